// What the e2e section sends and where: the sipp scenarios (registrations from 1,000 provisioned users in
// one injection file, calls through a record-routing proxy to a sipp callee), and the checks that make
// a call run clean only with exactly one answered CDR row per successful call.
import { join } from 'node:path';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import type { SippOptions } from '../../test/e2e/sipp.js';
import { ROOT, sleep } from './common.js';
import { DOMAIN, NUMBER, PASSWORD } from './fixtures.js';

const SCENARIOS = join(ROOT, 'bench', 'e2e', 'scenarios');
export const RENEWALS = 5;
/** How long each call lasts between its ACK and its BYE. */
export const HOLD_MS = 500;

type Scenario = Omit<SippOptions, 'target' | 'calls' | 'rate'>;
/** A scenario, the operations each of its calls makes, and the rtd that starts with each call (see RunPlan). */
export interface Workload { scenario: Scenario; opsPerCall: number; launchRtd: number }

const injection = (users: number) =>
  Array.from({ length: users }, (_, i) => `u${i};${DOMAIN};[authentication username=u${i} password=${PASSWORD}]`);

/** Each REGISTER challenged, then answered with the digest (test/e2e's own scenario). One registration per sipp call. */
export const freshRegistrations = (users: number): Workload => ({
  scenario: { scenario: 'register.xml', vars: { final: 200 }, keys: { expires: 3600 }, injection: injection(users) },
  opsPerCall: 1, launchRtd: 1,
});

/** One challenge, then RENEWALS REGISTERs reusing the nonce with nc 1…RENEWALS: RENEWALS registrations per sipp call. */
export const renewals = (users: number): Workload => ({
  scenario: { scenario: join(SCENARIOS, 'register-renew.xml'), vars: { renewals: RENEWALS }, injection: injection(users) },
  opsPerCall: RENEWALS, launchRtd: 2,
});

/** Calls through a proxy to the callee at {{callee}} (filled in per run, see Target.callee). */
export const calls: Workload = {
  scenario: { scenario: join(SCENARIOS, 'call-uac.xml'), vars: { number: NUMBER, domain: DOMAIN, holdMs: HOLD_MS } },
  opsPerCall: 1, launchRtd: 1,
};

export const callee: Scenario = { scenario: join(SCENARIOS, 'call-uas.xml') };

/**
 * Counts the answered rows a query finds before a run and, after it, waits (at most `timeoutMs`) until
 * as many new ones as successful calls are there and then no more arrive for a moment. Clean only if
 * exactly one row per successful call.
 */
export function rowCheck(what: string, url: string, sql: string, timeoutMs = 20_000) {
  let before = 0;
  const rows = async () => {
    const c = await mysql.createConnection({ uri: url });
    try {
      const [[r]] = await c.query<RowDataPacket[]>(sql);
      return Number(r!.n);
    } finally {
      await c.end();
    }
  };
  return {
    async before() { before = await rows(); },
    async check(successful: number): Promise<string[]> {
      const until = Date.now() + timeoutMs;
      let n = (await rows()) - before;
      while (n < successful && Date.now() < until) {
        await sleep(200);
        n = (await rows()) - before;
      }
      await sleep(500); // a row too many would arrive late
      n = (await rows()) - before;
      return n === successful ? [] : [`${n} ${what} rows for ${successful} successful calls`];
    },
  };
}
