// Which stop ends a leg, and what its row says about the end. Decided from what each event reports,
// never from which stop arrives first (drachtio-server v0.9.10, README "What drachtio-server sends"):
//
// - A proxied INVITE's final response is reported twice: by the target (source network) and as drachtio
//   forwarded it, or replaced it with its own answer, to the caller (source application). Only the
//   latter is the call's end: with serial forking a target's 486 is followed by the next target's
//   INVITE and maybe a 200, and a caller's CANCEL is answered by drachtio (487) before the target's 487.
//   So a final response from the network does not end a leg that came from the network; it is kept as
//   the last status seen. In a B2BUA the leg we sent (from the application) ends with the network's
//   answer; the leg that came from the network never gets a response from the network.
// - 487 (Request Terminated) is the answer to a CANCEL: the leg was canceled, although drachtio labels
//   its own 487 to a canceling caller `call-rejected`.
// - A canceled B2BUA leg is reported with the INVITE itself (no status): the stack answered it 487.
import type { LegState } from './correlate.js';
import { DIALOG_ENDING_REASONS, type CdrEvent, type Source, type StopReason } from './event.js';

type Stop = Extract<CdrEvent, { type: 'stop' }>;

/** What a row records about the end of its leg. */
export interface LegEnd {
  at: number;
  reason: StopReason | 'not-reported';
  /** the final status, when the end carries one */
  status: number | null;
  source: Source | null;
}

const REQUEST_TERMINATED = 487;

/** Whether `stop` ends the leg, or is a proxy target's answer that the proxy's own answer supersedes. */
export function endsLeg(s: Pick<LegState, 'fromNetwork'>, stop: Stop): boolean {
  const targetAnswer = stop.source === 'network' && stop.status !== null && stop.status >= 300 && !DIALOG_ENDING_REASONS.has(stop.reason);
  return !(targetAnswer && s.fromNetwork);
}

export function stopEnd(stop: Stop): LegEnd {
  const canceled = stop.status === REQUEST_TERMINATED || stop.reason === 'call-canceled';
  return {
    at: stop.at,
    reason: canceled ? 'call-canceled' : stop.reason,
    status: stop.status ?? (canceled ? REQUEST_TERMINATED : null),
    source: stop.source,
  };
}

/**
 * A leg drachtio never ended (no stop within CDR_ORPHAN_TIMEOUT_SECONDS, or no BYE within
 * CDR_CALL_STATE_TTL_SECONDS): it ended at an unknown moment after the last one we know of, with the
 * last status seen (a target's answer while ringing; the 200 once answered).
 */
export function orphanEnd(s: LegState & { attemptedAt: number }): LegEnd {
  return {
    at: Math.max(s.attemptedAt, s.answeredAt ?? 0, s.lastAt ?? 0),
    reason: 'not-reported',
    status: s.answeredAt !== null ? s.startStatus ?? 200 : s.lastStatus,
    source: null,
  };
}
