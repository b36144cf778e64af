// One drachtio-server CDR event → a plain object holding only allow-listed fields, with its
// time of day turned into an instant. The SIP message itself (and its SDP body) goes no further.
//
//   cdr:attempt (source, time, msg)          msg = the INVITE
//   cdr:start   (source, time, role, msg)    msg = the 200 OK
//   cdr:stop    (source, time, reason, msg)  msg = the BYE, or the final response >= 300
import {
  accountSidHeader, callIdOf, header, isCdrSipMessage, nameAddrParts, sanitiseUserAgent, topViaSource, uriParts,
  type CdrSipMessage,
} from './sip.js';
import { DAY_MS } from '../time.js';

export const SOURCES = ['network', 'application'] as const;
export type Source = (typeof SOURCES)[number];
export const ROLES = ['uac', 'uas', 'proxy-uac', 'proxy-uas'] as const;
export type Role = (typeof ROLES)[number];
/** drachtio-server's termination reasons (src/cdr.hpp); anything else is an invalid event. */
export const STOP_REASONS = [
  'call-rejected', 'call-canceled', 'normal-release', 'session-expired',
  'system-initiated-termination', 'system-error-initiated-termination',
] as const;
export type StopReason = (typeof STOP_REASONS)[number];
/** Reasons that end an established dialog (a BYE): the leg was answered even if its start event went missing. */
export const DIALOG_ENDING_REASONS: ReadonlySet<StopReason> = new Set([
  'normal-release', 'session-expired', 'system-initiated-termination', 'system-error-initiated-termination',
]);

const HALF_DAY_MS = DAY_MS / 2;

/** Allow-listed facts of an INVITE. */
export interface AttemptFacts {
  ruriUser: string | null;
  ruriHost: string | null;
  fromUser: string | null;
  fromHost: string | null;
  toUser: string | null;
  /** The far end: the packet source of an INVITE from the network, the Request-URI host of one we sent. */
  remoteHost: string | null;
  userAgent: string | null;
  /** Only ever set for an INVITE our application sent: never trusted from the network. */
  xAccountSid: string | null;
}

interface Base { callId: string; source: Source; at: number }
export type CdrEvent =
  | (Base & { type: 'attempt'; facts: AttemptFacts })
  | (Base & { type: 'start'; role: Role; status: number | null })
  | (Base & { type: 'stop'; reason: StopReason; status: number | null });
export type EventType = CdrEvent['type'];

export type Normalised = { ok: true; event: CdrEvent } | { ok: false; why: string };

/**
 * drachtio stamps events with the UTC time of day only (`HH:MM:SS.uuuuuu`). The date is the one
 * that puts the instant nearest to `now` (the moment we receive the event): an event stamped
 * 23:59:59.9 and received at 00:00:00.1 belongs to the previous day, one stamped 00:00:00.1 and
 * received at 23:59:59.9 (clocks a little apart) to the next. Correct while delivery takes
 * less than 12 hours. Microseconds are truncated to milliseconds (DATETIME(3)).
 */
export function timeOfDayToEpochMs(tod: unknown, now: number): number | null {
  if (typeof tod !== 'string') return null;
  const m = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/.exec(tod);
  if (!m) return null;
  const [h, min, s] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (h > 23 || min > 59 || s > 59) return null;
  const ms = Math.floor(Number((m[4] ?? '0').padEnd(6, '0')) / 1000);
  const candidate = now - mod(now, DAY_MS) + ((h * 60 + min) * 60 + s) * 1000 + ms;
  if (candidate - now > HALF_DAY_MS) return candidate - DAY_MS;
  if (now - candidate > HALF_DAY_MS) return candidate + DAY_MS;
  return candidate;
}

const mod = (a: number, b: number) => ((a % b) + b) % b;

/** Validates one event's arguments as drachtio-srf passes them to `srf.on('cdr:…')`. */
export function normaliseEvent(type: EventType, args: readonly unknown[], now: number): Normalised {
  const [source, time] = args;
  const extra = type === 'attempt' ? undefined : args[2];
  const msg = args[type === 'attempt' ? 2 : 3];
  if (!(SOURCES as readonly unknown[]).includes(source)) return bad('unknown source');
  const at = timeOfDayToEpochMs(time, now);
  if (at === null) return bad('unparsable time');
  if (!isCdrSipMessage(msg)) return bad('no SIP message');
  const callId = callIdOf(msg);
  if (callId === null) return bad('missing or malformed Call-ID');
  const base = { callId, source: source as Source, at };

  if (type === 'attempt') {
    if (typeof msg.method !== 'string' || msg.method.toUpperCase() !== 'INVITE') return bad('attempt is not an INVITE');
    return { ok: true, event: { ...base, type, facts: attemptFacts(msg, base.source) } };
  }
  if (type === 'start') {
    if (!(ROLES as readonly unknown[]).includes(extra)) return bad('unknown role');
    return { ok: true, event: { ...base, type, role: extra as Role, status: statusOf(msg) } };
  }
  if (!(STOP_REASONS as readonly unknown[]).includes(extra)) return bad('unknown termination reason');
  return { ok: true, event: { ...base, type, reason: extra as StopReason, status: statusOf(msg) } };
}

function attemptFacts(msg: CdrSipMessage, source: Source): AttemptFacts {
  const ruri = uriParts(msg.uri);
  const from = nameAddrParts(header(msg, 'From'));
  const to = nameAddrParts(header(msg, 'To'));
  return {
    ruriUser: ruri?.user ?? null,
    ruriHost: ruri?.host ?? null,
    fromUser: from?.user ?? null,
    fromHost: from?.host ?? null,
    toUser: to?.user ?? null,
    remoteHost: source === 'network' ? topViaSource(header(msg, 'Via')) : ruri?.host ?? null,
    userAgent: sanitiseUserAgent(header(msg, 'User-Agent')),
    xAccountSid: source === 'application' ? accountSidHeader(msg) : null,
  };
}

function statusOf(msg: CdrSipMessage): number | null {
  const s = Number(msg.status);
  return Number.isInteger(s) && s >= 100 && s <= 699 ? s : null;
}

const bad = (why: string): Normalised => ({ ok: false, why });
