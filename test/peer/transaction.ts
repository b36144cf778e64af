/**
 * One request from the network, as drachtio-server hands it to an app and
 * completes the app's answer: the `sip` frame it sends, and the `response`
 * frame it acks the app's SIP response with.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  type SipParts, type SipResponse, findHeader, hasTag, joinSipMessage, parseSipResponse,
  requestMethod, rewriteTopVia, splitSipMessage, canonicalName,
} from './sip';

export type Transport = 'udp' | 'tcp' | 'tls';

export interface RequestMeta {
  transport?: Transport;
  sourceAddress?: string;
  sourcePort?: number;
}

export interface HostPort {
  transport: string;
  ip: string;
  port: number;
}

/** Ack text drachtio-server uses when no transaction matches the app's response. */
export const UNKNOWN_TRANSACTION = 'Response not sent due to unknown transaction';

/** UTC time of day, `HH:MM:SS.uuuuuu`, the format of the server's time tokens. */
export function timeOfDay(d?: Date): string {
  // Without a date, use the high-resolution clock so the microseconds are real.
  const epochMs = d ? d.getTime() : performance.timeOrigin + performance.now();
  const wholeMs = Math.floor(epochMs);
  const t = new Date(wholeMs);
  const micros = (wholeMs % 1000) * 1000 + Math.floor((epochMs - wholeMs) * 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())}:${pad(t.getUTCSeconds())}.${pad(micros, 6)}`;
}

/** `udp/127.0.0.1:5060,tcp/[::1]:5060` -> entries. */
export function parseHostports(csv: string): HostPort[] {
  return csv.split(',').filter(Boolean).map((entry) => {
    const slash = entry.indexOf('/');
    const hostport = entry.slice(slash + 1);
    const colon = hostport.lastIndexOf(':');
    return { transport: entry.slice(0, slash), ip: hostport.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(hostport.slice(colon + 1)) };
  });
}

/** The server's SIP address a request on `transport` arrives at (first listed as fallback). */
export function localHostportFor(hostports: HostPort[], transport: Transport): HostPort {
  return hostports.find((h) => h.transport === transport) ?? hostports[0] ?? { transport, ip: '127.0.0.1', port: 5060 };
}

/** `<uuid>|response|<msgId>|<status>|<field>|…`, the server's answer to any app frame. */
export function responseBody(msgId: string, status: 'OK' | 'NO' | 'NOK', ...fields: string[]): string {
  let s = `${randomUUID()}|response|${msgId}|${status}`;
  for (const f of fields) s += `|${f}`;
  return s;
}

export interface AcceptedResponse {
  /** the body of the `response` frame acking the app's SIP response */
  ackBody: string;
  /** the SIP response as the server would send it to the network */
  response: SipResponse;
  final: boolean;
}

function randomSourcePort(): number {
  return 20_000 + Math.floor(Math.random() * 40_000);
}

export class ServerTransaction {
  /** fresh per request, like the server's transaction uuid */
  readonly id = randomUUID();
  readonly method: string;
  readonly transport: Transport;
  readonly sourceAddress: string;
  readonly sourcePort: number;
  /** the request after the Via rewrite, as the app receives it */
  private readonly request: SipParts;
  /** size of the request as it arrived (before the rewrite), as the server reports it */
  private readonly arrivedBytes: number;
  private toTag: string | undefined;
  /** drachtio gives INVITEs a dialog id, `<call-id>;from-tag=<remote tag>` */
  readonly dialogId: string;

  constructor(rawSip: string, meta: RequestMeta, private readonly local: HostPort) {
    this.transport = meta.transport ?? 'udp';
    this.sourceAddress = meta.sourceAddress ?? '127.0.0.1';
    this.sourcePort = meta.sourcePort ?? randomSourcePort();
    this.arrivedBytes = Buffer.byteLength(rawSip, 'utf8');
    const parts = splitSipMessage(rawSip);
    this.method = requestMethod(parts);
    this.request = rewriteTopVia(parts, this.sourceAddress, this.sourcePort);
    this.dialogId = this.method === 'INVITE' ? inviteDialogId(parts) : '';
  }

  /** `<uuid>|sip|network|<bytes>|<transport>|<ip>|<port>|<time>|<txn>||<local ip>|<local port>|\r\n<request>` */
  deliveryBody(): string {
    return `${randomUUID()}|sip|network|${this.arrivedBytes}|${this.transport}|${this.sourceAddress}|${this.sourcePort}|` +
      `${timeOfDay()}|${this.id}||${this.local.ip}|${this.local.port}|\r\n${joinSipMessage(this.request, false)}`;
  }

  /** Complete the app's SIP response and build the server's ack for it. */
  acceptResponse(msgId: string, appRaw: string): AcceptedResponse {
    const sent = this.complete(splitSipMessage(appRaw));
    const response = parseSipResponse(sent);
    const ackBody = responseBody(msgId, 'OK', 'application', String(Buffer.byteLength(sent, 'utf8')), this.transport,
      this.sourceAddress, String(this.sourcePort), timeOfDay(), this.id, this.dialogId, '', 'Msg sent:', '') + `\r\n${sent}`;
    return { ackBody, response, final: response.status >= 200 };
  }

  /** A response the server generates by itself (e.g. 503 when no app routed the method). */
  localResponse(status: number, reason: string): SipResponse {
    const copy = ['from', 'to', 'call-id', 'cseq'];
    const headers = this.request.headers.filter((h) => copy.includes(canonicalName(h.name)));
    return parseSipResponse(this.complete({ startLine: `SIP/2.0 ${status} ${reason}`, headers, body: '' }));
  }

  /** What sofia adds to an app's response: the request's Vias, a To tag, Contact on a 2xx to INVITE, Content-Length. */
  private complete(parts: SipParts): string {
    const status = Number(/^SIP\/2\.0\s+(\d{3})/.exec(parts.startLine)?.[1] ?? 0);
    let headers = parts.headers.slice();
    if (!findHeader(parts, 'via')) {
      headers = [...this.request.headers.filter((h) => canonicalName(h.name) === 'via'), ...headers];
    }
    if (status > 100) {
      headers = headers.map((h) => (canonicalName(h.name) === 'to' && !hasTag(h.value) ? { name: h.name, value: `${h.value};tag=${this.tag()}` } : h));
    }
    if (this.method === 'INVITE' && status >= 200 && status < 300 && !findHeader(parts, 'contact')) {
      headers.push({ name: 'Contact', value: `<sip:${this.local.ip}:${this.local.port}>` });
    }
    return joinSipMessage({ startLine: parts.startLine, headers, body: parts.body }, true);
  }

  /** One To tag per transaction, so a 180 and the 200 agree. */
  private tag(): string {
    this.toTag ??= randomBytes(6).toString('hex');
    return this.toTag;
  }
}

function inviteDialogId(parts: SipParts): string {
  const from = findHeader(parts, 'from') ?? '';
  const tag = /;\s*tag\s*=\s*([^;>\s]+)/i.exec(from)?.[1] ?? '';
  return `${findHeader(parts, 'call-id') ?? ''};from-tag=${tag}`;
}
