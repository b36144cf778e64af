// The orphan sweep: legs whose end drachtio-server never reported. It loses no stop when a canceled
// B2BUA call rings only 100 Trying, when drachtio-server dies while a call rings, when the stop event
// finds no app connected (README "What drachtio-server sends"). A leg still unanswered
// CDR_ORPHAN_TIMEOUT_SECONDS after its last event, or answered and without a BYE
// CDR_CALL_STATE_TTL_SECONDS after it, is finalised like a stop would (account, opt-out, one atomic
// finish) with termination_reason `not-reported` (outcome.ts), and counted.
//
// Every instance sweeps. Each claims the legs it works on (correlate.claimDue moves them out of reach
// for CLAIM_MS in one step), and the finish only succeeds on the version read, so two sweeps, or a sweep
// and a late stop, can never both write a row for one leg.
import type { CdrOrphanKind } from '../metrics.js';
import { MAX_CHANGED_RETRIES, type EndingDeps } from './finish.js';
import { orphanEnd } from './outcome.js';

export const CLAIM_MS = 30_000;
const BATCH = 200;
const MAX_BATCHES_PER_SWEEP = 10;

/** A quarter of the orphan timeout, within 0.5 s to 15 s: a leg is finalised at most that late. */
export const sweepIntervalMs = (orphanTimeoutSeconds: number) => Math.min(15_000, Math.max(500, orphanTimeoutSeconds * 250));

export function createOrphanSweep(d: EndingDeps): { sweep(): Promise<Record<CdrOrphanKind, number>> } {
  const { calls, finisher, metrics, log, now } = d;

  /** The kind of orphan finalised, or null when the leg was not (any more) one. */
  const finalise = async (id: string): Promise<CdrOrphanKind | null> => {
    for (let changed = 0; changed <= MAX_CHANGED_RETRIES; changed++) {
      const { state } = await calls.readLeg(id);
      if (!state) {
        await calls.prune(id); // ended meanwhile (then already gone from the index), or its state expired
        return null;
      }
      if (state.dueAt !== null && state.dueAt > now()) return null; // an event renewed it since the claim
      const leg = () => d.hash(state.callId);
      if (state.attemptedAt === null) {
        // A start whose attempt was never recorded, and no stop: nothing to build a row from.
        if ((await calls.finish(state.callId, state.version, null, d.spool)) === 'changed') continue;
        log.warn({ leg: leg() }, 'CDR leg with no recorded attempt never ended; no row');
        metrics.cdrsSkipped.inc({ reason: 'stop_without_attempt' });
        return null;
      }
      const attempted = { ...state, attemptedAt: state.attemptedAt };
      const r = await finisher(attempted, orphanEnd(attempted), leg);
      if (r === 'changed') continue;
      if (r === 'gone') return null;
      return state.answeredAt !== null ? 'answered' : 'unanswered';
    }
    return null; // changing under us all along: its events are still coming, so it is no orphan
  };

  return {
    async sweep() {
      const found: Record<CdrOrphanKind, number> = { unanswered: 0, answered: 0 };
      for (let b = 0; b < MAX_BATCHES_PER_SWEEP; b++) {
        const ids = await calls.claimDue(now(), CLAIM_MS, BATCH);
        for (const id of ids) {
          const kind = await finalise(id);
          if (kind === null) continue;
          found[kind]++;
          metrics.cdrOrphans.inc({ kind });
        }
        if (ids.length < BATCH) break;
      }
      if (found.unanswered + found.answered > 0) {
        log.info(found, 'call legs finalised whose end drachtio-server never reported (termination_reason not-reported)');
      }
      return found;
    },
  };
}
