// Ending a leg: resolve the account, apply the opt-out as it is when the leg ends, then hand the row to
// the spool and delete the leg in one atomic step (correlate.finish). A stop event ends a leg after
// waiting briefly for the leg's other events (another instance may still be recording them); the
// orphan sweep (orphans.ts) ends the legs drachtio never ended. Which stop ends a leg, and what the row
// says about it: outcome.ts.
import { errorKind, StoreUnavailableError } from '../errors.js';
import type { Hasher, Logger } from '../log.js';
import { createRecurring } from '../outage.js';
import type { CdrSkipReason, Metrics } from '../metrics.js';
import type { AccountResolver, ResolvedAccount } from './account-resolver.js';
import type { CallState, LegState } from './correlate.js';
import { DIALOG_ENDING_REASONS, type CdrEvent } from './event.js';
import { endsLeg, stopEnd, type LegEnd } from './outcome.js';
import { buildRow, resolutionInputs } from './row.js';
import type { Spool } from './spool.js';
import { withTimeout } from '../timeout.js';

export type StopEvent = Extract<CdrEvent, { type: 'stop' }>;

/**
 * drachtio-server deals one call's events round-robin to the instances, so a leg's attempt (or
 * start) can be recorded a moment after its stop reaches another instance. The stop waits up to
 * the sum of these delays for them before concluding the attempt is missing.
 */
export const STOP_WAIT_MS: readonly number[] = [25, 75, 150, 250, 500, 1000];
/**
 * A rejection or cancel on a leg whose INVITE from the network is not recorded ends an outbound B2BUA leg, but
 * may instead belong to a proxied call whose network attempt (sent first) another instance is still applying:
 * ended now, that call's row would have the application side alone (direction outbound, the caller's details
 * missing). Such a stop waits through this many of STOP_WAIT_MS's steps (250 ms) for it.
 */
export const PROXY_ATTEMPT_WAITS = 3;
export const RESOLVE_TIMEOUT_MS = 1500;
// A leg changes at most once per attempt source, start role and superseded stop, so this suffices.
export const MAX_CHANGED_RETRIES = 10;

export interface FinishDeps {
  calls: CallState;
  spool: Spool;
  accounts: AccountResolver;
  metrics: Metrics;
  log: Logger;
  onSpooled(): void;
  /** Resolves once the spooled leg is safe from a failover (replica acks); rejects to have the end redone. */
  confirm?(callId: string): Promise<void>;
  /** An end user's objection: a leg from or to a restricted number is not recorded (lib/privacy/restrictions). */
  restricted?: (fromUser: string | null, toUser: string | null) => boolean;
}

/** ended: the leg is over (a row spooled, or none by decision); changed: it moved on, read it again; gone: finished elsewhere. */
export type EndResult = 'ended' | 'changed' | 'gone';
export type LegFinisher = (state: LegState & { attemptedAt: number }, end: LegEnd, leg: () => string) => Promise<EndResult>;

type Decision = { kind: 'record'; account: ResolvedAccount } | { kind: 'deferred' } | { kind: 'skip'; reason: CdrSkipReason; accountSid?: string };

export function createLegFinisher(d: FinishDeps): LegFinisher {
  const { calls, spool, accounts, metrics, log } = d;
  const skip = (reason: CdrSkipReason) => metrics.cdrsSkipped.inc({ reason });
  const spoolFull = createRecurring(log, { message: 'CDR spool full (CDR_SPOOL_MAX): newest rows dropped; is MySQL down?' });

  const decide = async (state: LegState): Promise<Decision> => {
    if (d.restricted?.(state.facts.fromUser, state.facts.toUser)) return { kind: 'skip', reason: 'restricted' };
    try {
      const account = await withTimeout(accounts.resolve(resolutionInputs(state)), RESOLVE_TIMEOUT_MS,
        () => new StoreUnavailableError('mysql', `account lookup took over ${RESOLVE_TIMEOUT_MS} ms`));
      if (!account) return { kind: 'skip', reason: 'unknown_account' };
      if (account.disableCdrs) return { kind: 'skip', reason: 'opted_out', accountSid: account.accountSid };
      return { kind: 'record', account };
    } catch (err) {
      // MySQL cannot answer now: spool the row unresolved; the writer resolves it (and applies the
      // opt-out) when MySQL is back, so nothing is lost and nothing is kept for an opted-out account.
      // Anything else (an SQL error included) is a bug, not an outage: let it surface.
      if (errorKind(err) !== 'unavailable') throw err;
      log.debug({ err: (err as Error).message }, 'account lookup failed; row spooled unresolved');
      return { kind: 'deferred' };
    }
  };

  return async (state, end, leg) => {
    const decision = await decide(state);
    const row = decision.kind === 'skip' ? null : buildRow(state, end, decision.kind === 'record' ? decision.account.accountSid : null);
    const result = await calls.finish(state.callId, state.version, row && JSON.stringify(row), spool);
    switch (result) {
      case 'changed':
        return 'changed';
      case 'missing':
      case 'duplicate':
        return 'gone';
      case 'dropped':
        if (decision.kind === 'skip') {
          if (decision.reason === 'unknown_account') log.info({ leg: leg(), direction: state.direction }, 'no account for call leg; no CDR');
          else if (decision.reason === 'restricted') log.debug({ leg: leg() }, 'a restricted number is the caller or the callee; leg not recorded');
          else log.debug({ leg: leg(), account: decision.accountSid }, 'account opted out of CDRs; leg not recorded');
          skip(decision.reason);
        }
        return 'ended';
      case 'full':
        spoolFull.hit({ spoolMaxPerShard: spool.maxPerShard });
        skip('spool_full');
        return 'ended';
      case 'spooled':
        await d.confirm?.(state.callId);
        if (decision.kind === 'deferred') log.debug({ leg: leg() }, 'CDR spooled; account resolved when MySQL answers');
        d.onSpooled();
        return 'ended';
    }
  };
}

/** What ends legs needs: the stop handler, and the orphan sweep (orphans.ts). */
export interface EndingDeps {
  calls: CallState;
  spool: Spool;
  finisher: LegFinisher;
  metrics: Metrics;
  log: Logger;
  hash: Hasher;
  now: () => number;
}

export interface StopDeps extends EndingDeps {
  waitMs?: readonly number[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function createStopHandler(d: StopDeps): (ev: StopEvent) => Promise<void> {
  const { calls, finisher, metrics, log, hash } = d;
  const waits = d.waitMs ?? STOP_WAIT_MS;
  const skip = (reason: CdrSkipReason) => metrics.cdrsSkipped.inc({ reason });

  return async function onStop(ev) {
    // The keyed hash (an HMAC) names the leg in log lines only: computed when one is written.
    let legRef: string | undefined;
    const leg = () => (legRef ??= hash(ev.callId));
    let waited = 0;
    let changed = 0;
    for (;;) {
      const { done, state } = await calls.read(ev.callId);
      if (done) return skip('duplicate');
      const attempted = state !== null && state.attemptedAt !== null;
      const startPending = attempted && state.answeredAt === null && DIALOG_ENDING_REASONS.has(ev.reason);
      const networkPending = attempted && !state.fromNetwork && !DIALOG_ENDING_REASONS.has(ev.reason) && waited < PROXY_ATTEMPT_WAITS;
      if ((!attempted || startPending || networkPending) && waited < waits.length) {
        await sleep(waits[waited++]);
        continue;
      }
      if (!state) {
        log.warn({ leg: leg(), reason: ev.reason }, 'CDR stop for a leg with no recorded attempt; no row');
        return skip('stop_without_attempt');
      }
      if (state.attemptedAt === null) {
        // A start arrived but the attempt never did: nothing to build a row from; remove what we hold.
        const r = await calls.finish(ev.callId, state.version, null, d.spool);
        if (r === 'changed' && ++changed <= MAX_CHANGED_RETRIES) continue;
        log.warn({ leg: leg(), reason: ev.reason }, 'CDR stop for a leg with no recorded attempt; no row');
        return skip('stop_without_attempt');
      }
      if (!endsLeg(state, ev)) {
        // A proxy target's answer: the proxy's own answer to the caller (another stop) ends the leg.
        // Kept as the last status seen, and counted with the events that repeat what the row says.
        await calls.merge(ev, d.now());
        return skip('duplicate');
      }
      const r = await finisher({ ...state, attemptedAt: state.attemptedAt }, stopEnd(ev), leg);
      if (r === 'changed' && ++changed <= MAX_CHANGED_RETRIES) continue;
      if (r !== 'ended') skip('duplicate'); // another instance finished it first
      return;
    }
  };
}
