// The admin routes of the second privacy step: legal holds, end users' restrictions, the access log.
import { BadInputError } from '../errors.js';
import { holdEvents } from '../db/legal-holds.js';
import type { Pool } from '../db/pool.js';
import type { Holds } from '../privacy/holds.js';
import type { Restrictions } from '../privacy/restrictions.js';
import type { PrivacyService } from '../privacy/service.js';
import type { AccessLog } from './access-log.js';
import { NUMBER, type AdminContext, type AdminRouteDef } from './admin.js';
import { date, onlyParams, readJson, sendStreamHead } from './admin-input.js';
import { sendJson } from './respond.js';

const DAY = 86_400_000;
const HOLD_SHAPE = '{"reference": "<case or order id>", "number"?: "<E.164>", "until"?: "<ISO 8601>"}';

export function holdRoutes(d: { pool: Pool; service: PrivacyService; holds: Holds; now?: () => number }): AdminRouteDef[] {
  const now = d.now ?? Date.now;
  const hold = ['hold'] as const;
  const found = async (c: AdminContext) => {
    const h = await d.holds.get(c.params.id!);
    if (!h) throw new BadInputError('no legal hold with that id', { status: 404, code: 'hold_not_found' });
    return h;
  };
  return [
    {
      method: 'PUT', path: '/v1/accounts/{sid}/legal-hold', scopes: () => hold,
      async handle(c) {
        const sid = c.params.sid!;
        if (!(await d.service.accountExists(sid)) && (await d.holds.list(sid)).length === 0) {
          throw new BadInputError('no account with that account_sid', { status: 404, code: 'account_not_found' });
        }
        const body = await readJson(c.req, 4096, ['reference', 'number', 'until'], HOLD_SHAPE);
        const { reference, number, until } = body;
        if (typeof reference !== 'string' || reference.trim() === '' || reference.length > 200) throw new BadInputError(`reference is required, 1-200 characters: ${HOLD_SHAPE}`);
        if (number !== undefined && (typeof number !== 'string' || !NUMBER.test(number))) throw new BadInputError('number must be 1-64 characters of A-Z a-z 0-9 + * # . _ -');
        if (until !== undefined && typeof until !== 'string') throw new BadInputError('until must be an ISO 8601 date or date-time');
        const untilDate = date((until as string | undefined) ?? null, 'until');
        if (untilDate && untilDate.getTime() <= now()) throw new BadInputError('until must be in the future');
        const r = await d.holds.place(sid, { reference: reference.trim(), number: (number as string | undefined) ?? null, until: untilDate }, c.actor);
        sendJson(c.res, r.created ? 201 : 200, { hold: r.hold });
      },
    },
    {
      method: 'GET', path: '/v1/accounts/{sid}/legal-hold', scopes: () => hold,
      async handle(c) {
        const holds = await d.holds.list(c.params.sid!);
        if (holds.length === 0 && !(await d.service.accountExists(c.params.sid!))) {
          throw new BadInputError('no account with that account_sid', { status: 404, code: 'account_not_found' });
        }
        sendJson(c.res, 200, { holds });
      },
    },
    {
      method: 'GET', path: '/v1/legal-holds/{id}', scopes: () => hold,
      async handle(c) {
        const view = d.holds.view(await found(c));
        const events = (await holdEvents(d.pool, c.params.id!)).map((e) => ({
          event: e.event, at: (e.at as Date).toISOString(), actor: e.actor, reference: e.reference, rows: e.row_count, detail: e.detail,
        }));
        sendJson(c.res, 200, { hold: view, events });
      },
    },
    {
      method: 'DELETE', path: '/v1/legal-holds/{id}', scopes: () => hold,
      async handle(c) {
        const h = await found(c);
        const hold = await d.holds.lift(c.params.id!, c.actor);
        // The account was closed while the hold kept its CDRs: what no other hold keeps goes now,
        // as the closure asked, not only once past retention.
        if (await d.service.accountExists(h.accountSid)) return sendJson(c.res, 200, { hold });
        const erased = await d.service.eraseCdrs(h.accountSid);
        c.counts = { ...erased };
        sendJson(c.res, 200, { hold, erased });
      },
    },
  ];
}

export function restrictionRoutes(d: { restrictions: Restrictions }): AdminRouteDef[] {
  const erase = ['erase'] as const;
  const configured = () => {
    if (!d.restrictions.configured) {
      throw new BadInputError('restrictions need PRIVACY_HASH_KEY (the same on every instance); it is not set', { status: 501, code: 'not_configured' });
    }
  };
  const notRestricted = () => new BadInputError('that number is not restricted', { status: 404, code: 'not_restricted' });
  return [
    {
      method: 'PUT', path: '/v1/restrictions/{number}', scopes: () => erase,
      async handle(c) {
        configured();
        const r = await d.restrictions.add(c.params.number!, c.actor);
        c.counts = { ...r.erased };
        sendJson(c.res, r.created ? 201 : 200, { restricted: true, restricted_at: r.restricted_at, erased: r.erased });
      },
    },
    {
      method: 'GET', path: '/v1/restrictions/{number}', scopes: () => erase,
      async handle(c) {
        configured();
        const r = await d.restrictions.get(c.params.number!);
        if (!r) throw notRestricted();
        sendJson(c.res, 200, { restricted: true, restricted_at: r.restricted_at });
      },
    },
    {
      method: 'DELETE', path: '/v1/restrictions/{number}', scopes: () => erase,
      async handle(c) {
        configured();
        if (!(await d.restrictions.remove(c.params.number!))) throw notRestricted();
        sendJson(c.res, 200, { restricted: false });
      },
    },
  ];
}

export function accessLogRoutes(d: { accessLog: AccessLog; now?: () => number }): AdminRouteDef[] {
  const now = d.now ?? Date.now;
  return [{
    method: 'GET', path: '/v1/access-log', scopes: () => ['read'],
    async handle(c) {
      onlyParams(c.url, ['since', 'until']);
      const until = date(c.url.searchParams.get('until'), 'until') ?? new Date(now());
      const since = date(c.url.searchParams.get('since'), 'since') ?? new Date(until.getTime() - 31 * DAY);
      if (since >= until) throw new BadInputError('since must be before until');
      // Entries still waiting for MySQL belong in the export too.
      await d.accessLog.flush();
      sendStreamHead(c.res, 'ndjson', 'access-log');
      const rows = await d.accessLog.export(since, until, c.res);
      c.counts = { rows };
    },
  }];
}
