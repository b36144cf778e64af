// The account routes of the admin API: export (and disclosure under a legal hold), erasure,
// registrations, the CDR opt-out, closure. Each is a thin call into lib/privacy.
import type { AdminScope } from '../../config/index.js';
import { BadInputError } from '../errors.js';
import type { Holds } from '../privacy/holds.js';
import type { PrivacyService } from '../privacy/service.js';
import { NUMBER, SID, type AdminContext, type AdminRouteDef } from './admin.js';
import { date, format, onlyParams, readJson, sendStreamHead } from './admin-input.js';
import { sendJson } from './respond.js';

export const MAX_RANGE_DAYS = 31;
const DAY = 86_400_000;

export function accountRoutes(d: { service: PrivacyService; holds: Holds; now?: () => number }): AdminRouteDef[] {
  const now = d.now ?? Date.now;
  const s = d.service;
  const route = (method: AdminRouteDef['method'], path: string, scopes: readonly AdminScope[] | ((url: URL) => readonly AdminScope[]),
    handle: (c: AdminContext) => Promise<void>): AdminRouteDef => ({
    method, path, scopes: typeof scopes === 'function' ? scopes : () => scopes, handle,
  });
  /** The account must exist; for `orHeld`, an account closed while a hold kept its CDRs will do. */
  const account = async (c: AdminContext, orHeld = false) => {
    const sid = c.params.sid!;
    if (await s.accountExists(sid)) return sid;
    if (orHeld && (await d.holds.list(sid)).length > 0) return sid;
    throw new BadInputError('no account with that account_sid', { status: 404, code: 'account_not_found' });
  };

  return [
    // A disclosure under a legal hold needs `hold` as well as `read`.
    route('GET', '/v1/accounts/{sid}/cdrs', (url) => (url.searchParams.has('hold') ? ['read', 'hold'] : ['read']), async (c) => {
      if (c.url.searchParams.has('hold')) return disclose(c);
      const sid = await account(c);
      onlyParams(c.url, ['since', 'until', 'format']);
      const f = format(c.url);
      const until = date(c.url.searchParams.get('until'), 'until') ?? new Date(now());
      const since = date(c.url.searchParams.get('since'), 'since') ?? new Date(until.getTime() - MAX_RANGE_DAYS * DAY);
      if (since >= until) throw new BadInputError('since must be before until');
      if (until.getTime() - since.getTime() > MAX_RANGE_DAYS * DAY) throw new BadInputError(`the range may not exceed ${MAX_RANGE_DAYS} days`);
      sendStreamHead(c.res, f, `cdrs-${sid}`);
      await s.exportCdrs(sid, { since, until, format: f }, c.res, (rows) => { c.counts = { rows }; });
    }),
    route('DELETE', '/v1/accounts/{sid}/cdrs', ['erase'], async (c) => {
      const sid = await account(c);
      onlyParams(c.url, ['number']);
      const number = c.url.searchParams.get('number');
      if (number !== null && !NUMBER.test(number)) throw new BadInputError('number must be 1-64 characters of A-Z a-z 0-9 + * # . _ -');
      const erased = await (number === null ? s.eraseCdrs(sid) : s.eraseCdrsOfNumber(sid, number));
      c.counts = { ...erased };
      sendJson(c.res, 200, { erased });
    }),
    route('GET', '/v1/accounts/{sid}/registrations', ['read'], async (c) => {
      const registrations = await s.listRegistrations(await account(c));
      c.counts = { rows: registrations.length };
      sendJson(c.res, 200, { registrations });
    }),
    route('DELETE', '/v1/accounts/{sid}/registrations', ['erase'], async (c) => {
      const erased = await s.eraseRegistrations(await account(c));
      c.counts = { ...erased };
      sendJson(c.res, 200, { erased });
    }),
    route('PUT', '/v1/accounts/{sid}/cdr-opt-out', ['optout'], async (c) => {
      const sid = await account(c);
      const shape = '{"disable_cdrs": true|false}';
      const value = (await readJson(c.req, 1024, ['disable_cdrs'], shape)).disable_cdrs;
      if (typeof value !== 'boolean') throw new BadInputError(`body must be ${shape}`);
      await s.setOptOut(sid, value);
      sendJson(c.res, 200, { account_sid: sid, disable_cdrs: value });
    }),
    route('DELETE', '/v1/accounts/{sid}', ['erase'], async (c) => {
      const erased = await s.closeAccount(await account(c));
      c.counts = { ...erased };
      sendJson(c.res, 200, { erased });
    }),
  ];

  async function disclose(c: AdminContext) {
    const sid = await account(c, true);
    onlyParams(c.url, ['hold', 'since', 'until', 'format']);
    const id = c.url.searchParams.get('hold')!;
    if (!SID.test(id)) throw new BadInputError('hold must be a legal hold id (UUID)');
    const hold = await d.holds.get(id.toLowerCase());
    if (!hold || hold.accountSid !== sid) throw new BadInputError('no legal hold with that id on this account', { status: 404, code: 'hold_not_found' });
    if (!d.holds.isActive(hold)) throw new BadInputError('the legal hold was lifted or has lapsed: nothing is disclosed under it', { status: 409, code: 'hold_not_active' });
    const f = format(c.url);
    const since = date(c.url.searchParams.get('since'), 'since');
    const until = date(c.url.searchParams.get('until'), 'until');
    if (since && until && since >= until) throw new BadInputError('since must be before until');
    sendStreamHead(c.res, f, `cdrs-hold-${hold.holdId}`);
    await d.holds.disclose(hold, { since, until, format: f }, c.res, c.actor, (rows) => { c.counts = { rows }; });
  }
}
