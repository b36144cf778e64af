// Whole calls as drachtio-server v0.9.10 reports them in CDR events: which events, from which source,
// with which role or reason and message, in the order it sends them. Captured through the real server
// with sipp and a drachtio-srf call app; test/e2e/cdr-events.test.ts fails if the real server sends
// anything else, so tests that play these shapes through the peer cannot drift from it.
//
// Each event: `<leg> <type>/<source>[/<role or reason>] <message>`. Leg A is the caller's Call-ID (the
// only one of a proxied call); B the leg a B2BUA sends. Message: INVITE, BYE, or a response status.
import { timeOfDay } from './transaction';
import type { CdrRole, CdrSource, CdrStopReason, DrachtioPeer } from './drachtio-peer';

export const CALL_SHAPES = {
  'proxy: answered, the caller hangs up': [
    'A attempt/network INVITE', 'A attempt/application INVITE', 'A start/network/proxy-uac 200', 'A start/application/proxy-uas 200',
    'A stop/network/normal-release BYE', 'A stop/application/normal-release BYE',
  ],
  'proxy: 486 from the target': [
    'A attempt/network INVITE', 'A attempt/application INVITE', 'A stop/network/call-rejected 486', 'A stop/application/call-rejected 486',
  ],
  // drachtio answers the caller's CANCEL itself (487, labelled call-rejected), then reports the target's 487.
  'proxy: canceled after 100': [
    'A attempt/network INVITE', 'A attempt/application INVITE', 'A stop/application/call-rejected 487', 'A stop/network/call-canceled 487',
  ],
  'proxy: canceled after 180': [
    'A attempt/network INVITE', 'A attempt/application INVITE', 'A stop/application/call-rejected 487', 'A stop/network/call-canceled 487',
  ],
  // Serial forking: the first target's 486 is reported, not forwarded; the second target answers.
  'proxy: 486 from the first target, the second answers': [
    'A attempt/network INVITE', 'A attempt/application INVITE', 'A stop/network/call-rejected 486', 'A attempt/application INVITE',
    'A start/network/proxy-uac 200', 'A start/application/proxy-uas 200', 'A stop/network/normal-release BYE', 'A stop/application/normal-release BYE',
  ],
  'b2bua: answered, the caller hangs up': [
    'A attempt/network INVITE', 'B attempt/application INVITE', 'B start/network/uac 200', 'A start/application/uas 200',
    'A stop/network/normal-release BYE', 'B stop/application/normal-release BYE',
  ],
  'b2bua: 486 from the callee': [
    'A attempt/network INVITE', 'B attempt/application INVITE', 'B stop/network/call-rejected 486', 'A stop/application/call-rejected 486',
  ],
  // No stop at all for A: drachtio finds no dialog for a CANCEL before a provisional with a To tag.
  'b2bua: canceled after 100': [
    'A attempt/network INVITE', 'B attempt/application INVITE', 'B stop/network/call-canceled 487',
  ],
  // A's stop carries the INVITE itself (no status); the stack answered it 487.
  'b2bua: canceled after 180': [
    'A attempt/network INVITE', 'B attempt/application INVITE', 'A stop/network/call-canceled INVITE', 'B stop/network/call-canceled 487',
  ],
} as const;

export type CallShape = keyof typeof CALL_SHAPES;

/** The SIP messages of one leg, as the events carry them. */
export interface CallLegMessages {
  invite: string;
  ok: string;
  bye: string;
  final(status: number): string;
}

export interface ShapeEvent {
  leg: 'A' | 'B';
  type: 'attempt' | 'start' | 'stop';
  source: CdrSource;
  detail: string | null;
  message: string;
}

export function parseShapeEvent(s: string): ShapeEvent {
  const m = /^([AB]) (attempt|start|stop)\/(network|application)(?:\/([a-z-]+))? (\S+)$/.exec(s);
  if (!m) throw new Error(`not a shape event: ${s}`);
  return { leg: m[1] as 'A' | 'B', type: m[2] as ShapeEvent['type'], source: m[3] as CdrSource, detail: m[4] ?? null, message: m[5]! };
}

/**
 * Sends the events of `events` (a CALL_SHAPES entry, or a reordering of one) for `legs`, each stamped
 * by `time(i)` (default: now). Each event goes to one subscribed app, round-robin, as the server does.
 */
export async function playCall(
  peer: DrachtioPeer, events: readonly string[], legs: { A: CallLegMessages; B?: CallLegMessages },
  time: (i: number) => string = () => timeOfDay(),
): Promise<void> {
  for (const [i, s] of events.entries()) {
    const e = parseShapeEvent(s);
    const l = legs[e.leg];
    if (!l) throw new Error(`${s}: no messages for leg ${e.leg}`);
    const msg = e.message === 'INVITE' ? l.invite : e.message === 'BYE' ? l.bye : e.message === '200' ? l.ok : l.final(Number(e.message));
    if (e.type === 'attempt') await peer.sendCdr('attempt', e.source, time(i), msg);
    else if (e.type === 'start') await peer.sendCdr('start', e.source, time(i), e.detail as CdrRole, msg);
    else await peer.sendCdr('stop', e.source, time(i), e.detail as CdrStopReason, msg);
  }
}

/** One CDR event as an app's `srf.on('cdr:<type>')` handler received it. */
export interface SeenEvent {
  type: 'attempt' | 'start' | 'stop';
  source: string;
  /** start: the role; stop: the termination reason */
  detail: string | null;
  /** the message's status when it is a response, else its method */
  message: string;
  callId: string;
}

interface SrfMessage { status?: number; method?: string; get(h: string): string | undefined }

export function seenEvent(type: SeenEvent['type'], args: readonly unknown[]): SeenEvent {
  const msg = args[type === 'attempt' ? 2 : 3] as SrfMessage;
  return {
    type, source: String(args[0]), detail: type === 'attempt' ? null : String(args[2]),
    message: msg.status ? String(msg.status) : String(msg.method), callId: msg.get('Call-ID') ?? '',
  };
}

/** Events in the notation of CALL_SHAPES, legs named A, B, … by the first appearance of their Call-ID. */
export function asShape(events: readonly SeenEvent[]): string[] {
  const legs: string[] = [];
  return events.map((e) => {
    if (!legs.includes(e.callId)) legs.push(e.callId);
    return `${String.fromCharCode(65 + legs.indexOf(e.callId))} ${[e.type, e.source, e.detail].filter(Boolean).join('/')} ${e.message}`;
  });
}
