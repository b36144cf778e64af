// Call legs as drachtio-server reports them (INVITE and 200 OK with SDP, BYE, final responses), a
// settable clock, and readers for what the daemon left in MySQL, Redis and its metrics.
import type { RowDataPacket } from 'mysql2/promise';
import { DrachtioPeer, timeOfDay } from '../peer/drachtio-peer.js';
import { joinSipMessage, rewriteTopVia, splitSipMessage } from '../peer/sip.js';
import { buildBye, buildInvite, buildResponse, type InviteOptions } from '../peer/sip-ua.js';
import { eventually, startDaemon, type Daemon, type Stores } from '../helpers/harness.js';
import type { Pool } from '../../lib/db/pool.js';

export interface Clock { ms: number; now: () => number; set(iso: string): void }

export function clock(iso: string): Clock {
  const c: Clock = { ms: Date.parse(iso), now: () => c.ms, set: (s) => { c.ms = Date.parse(s); } };
  return c;
}

/** drachtio's time token for an ISO instant. */
export const tod = (iso: string) => timeOfDay(new Date(iso));

export interface Leg {
  callId: string;
  invite: string;
  ok: string;
  bye: string;
  final(status: number): string;
}

let seq = 0;
export const uniqueCallId = (tag = 'leg') => `${tag}-${process.pid}-${Date.now().toString(36)}-${++seq}@10.9.8.7`;

/**
 * A leg whose INVITE carries an SDP offer and whose 200 OK an SDP answer. With `sourceIp` the INVITE's
 * top Via is rewritten as drachtio-server does for a request from the network (received=, rport=).
 */
export function leg(o: InviteOptions & { sourceIp?: string; userAgent?: string } = {}): Leg {
  const callId = o.callId ?? uniqueCallId();
  const extra = [...(o.extraHeaders ?? []), ...(o.userAgent ? [`User-Agent: ${o.userAgent}`] : [])];
  let invite = buildInvite({ ...o, callId, extraHeaders: extra });
  if (o.sourceIp) invite = joinSipMessage(rewriteTopVia(splitSipMessage(invite), o.sourceIp, 5062), false);
  const ok = buildResponse(invite, 200);
  return {
    callId, invite, ok,
    bye: buildBye({ invite, response: ok }),
    final: (status) => buildResponse(invite, status),
  };
}

/** The three events of an answered B2BUA leg, as drachtio-server sends them for each direction. */
export async function answeredLeg(peer: DrachtioPeer, l: Leg, dir: 'inbound' | 'outbound', t: { attempt: string; answer: string; end: string }) {
  const near = dir === 'inbound' ? 'network' : 'application';
  const far = dir === 'inbound' ? 'application' : 'network';
  await peer.sendCdr('attempt', near, tod(t.attempt), l.invite);
  await peer.sendCdr('start', far, tod(t.answer), dir === 'inbound' ? 'uas' : 'uac', l.ok);
  await peer.sendCdr('stop', 'network', tod(t.end), 'normal-release', l.bye);
}

/**
 * An unanswered B2BUA leg: the attempt, then a final response >= 300 (486 rejected, 487 canceled). As
 * drachtio-server v0.9.10 reports it (test/peer/cdr-calls.ts): an inbound leg its caller canceled (after a
 * 180) with the INVITE itself, from the network; every other one with the final response.
 */
export async function unansweredLeg(peer: DrachtioPeer, l: Leg, dir: 'inbound' | 'outbound', status: number, t: { attempt: string; end: string }) {
  await peer.sendCdr('attempt', dir === 'inbound' ? 'network' : 'application', tod(t.attempt), l.invite);
  if (dir === 'inbound' && status === 487) return peer.sendCdr('stop', 'network', tod(t.end), 'call-canceled', l.invite);
  await peer.sendCdr('stop', dir === 'inbound' ? 'application' : 'network', tod(t.end),
    status === 487 ? 'call-canceled' : 'call-rejected', l.final(status));
}

export async function cdrRows(pool: Pool, where = '1=1', params: unknown[] = []): Promise<RowDataPacket[]> {
  const [rows] = await pool.query<RowDataPacket[]>(`SELECT * FROM cdrs WHERE ${where} ORDER BY attempted_at, cdr_id`, params);
  return rows;
}

export const rowsOf = (pool: Pool, callId: string) => cdrRows(pool, 'sip_callid = ?', [callId]);

/** Waits until `callId` has `n` rows and returns them. */
export async function waitRows(pool: Pool, callId: string, n = 1, timeoutMs = 8000): Promise<RowDataPacket[]> {
  await eventually(async () => (await rowsOf(pool, callId)).length >= n, timeoutMs);
  return rowsOf(pool, callId);
}

type Labelled = { get(): Promise<{ values: { labels: Partial<Record<string, string | number>>; value: number }[] }> };

/** Sum of a metric's values whose labels include `labels`. */
export async function metric(m: Labelled, labels: Record<string, string> = {}): Promise<number> {
  const { values } = await m.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
    .reduce((sum, v) => sum + v.value, 0);
}

export async function waitMetric(m: Labelled, labels: Record<string, string>, atLeast: number, timeoutMs = 8000): Promise<number> {
  await eventually(async () => (await metric(m, labels)) >= atLeast, timeoutMs);
  return metric(m, labels);
}

/** Every key under the prefix with its whole content, as text. */
export async function redisDump(stores: Stores): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const k of await stores.keys(`${stores.prefix}*`)) {
    const type = await stores.redis.type(k);
    let v: unknown = null;
    if (type === 'string') v = await stores.redis.get(k);
    else if (type === 'hash') v = await stores.redis.hgetall(k);
    else if (type === 'list') v = await stores.redis.lrange(k, 0, -1);
    else if (type === 'zset') v = await stores.redis.zrange(k, '0', '-1', 'WITHSCORES');
    else if (type === 'set') v = await stores.redis.smembers(k);
    out[k] = JSON.stringify(v);
  }
  return out;
}

/** Every row of cdrs as text (all columns). */
export async function mysqlDump(pool: Pool): Promise<string[]> {
  return (await cdrRows(pool)).map((r) => JSON.stringify(r));
}

export const SDP_MARKERS = ['v=0', 'm=audio'];
export const holdsSdp = (text: string) => SDP_MARKERS.some((m) => text.includes(m));

export const CDR_VERBS = ['cdr:attempt', 'cdr:start', 'cdr:stop'];

/** The real daemon, once it has routed the three CDR verbs (as the `clients`-th app). */
export async function cdrDaemon(stores: Stores, peer: DrachtioPeer, o: { now?: () => number; env?: Record<string, string>; clients?: number } = {}): Promise<Daemon> {
  const d = await startDaemon(stores, peer, { now: o.now, env: o.env });
  await peer.waitForRoutes(CDR_VERBS, { clients: o.clients ?? 1 });
  return d;
}

/** The Prometheus text of the daemon's /metrics (which refreshes the spool and in-flight gauges). */
export async function scrape(d: Daemon): Promise<string> {
  return (await fetch(`${d.httpUrl}/metrics`)).text();
}

export function gauge(text: string, name: string): number | null {
  const m = new RegExp(`^sip_sidecar_${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}
