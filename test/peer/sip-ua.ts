/**
 * Phone-side SIP helpers for tests: build requests and responses the way a
 * UA would put them on the wire, and compute Digest credentials.
 *
 * digestAuthorization is written from RFC 2617 / 7616 / 8760 alone; it is the
 * tests' oracle for the daemon's digest code, so it shares nothing with it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { findHeader, joinSipMessage, splitSipMessage, type SipHeader } from './sip';

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const branch = () => `z9hG4bK${hex(8)}`;

/** Serialize a message; Content-Length is computed in bytes. */
function message(startLine: string, headers: Array<[string, string | number]>, extra: string[] = [], body = ''): string {
  const list: SipHeader[] = headers.map(([name, value]) => ({ name, value: String(value) }));
  for (const line of extra) {
    const colon = line.indexOf(':');
    list.push({ name: line.slice(0, colon).trim(), value: line.slice(colon + 1).trim() });
  }
  return joinSipMessage({ startLine, headers: list, body }, true);
}

export interface RegisterOptions {
  user: string;
  domain: string;
  contactHost?: string;
  contactPort?: number;
  /** Expires header; null = no Expires header (default 3600) */
  expires?: number | string | null;
  /** adds `;expires=` to the Contact */
  contactExpires?: number;
  /** raw Contact value, e.g. '*' */
  contact?: string;
  callId?: string;
  cseq?: number;
  fromTag?: string;
  /** full Authorization header value */
  authorization?: string;
  /** whole header lines, e.g. 'X-Foo: bar' */
  extraHeaders?: string[];
  userAgent?: string;
  transport?: 'UDP' | 'TCP' | 'TLS';
}

export function buildRegister(o: RegisterOptions): string {
  const host = o.contactHost ?? '127.0.0.1';
  const port = o.contactPort ?? 5062;
  const aor = `<sip:${o.user}@${o.domain}>`;
  const contact = o.contact ?? `<sip:${o.user}@${host}:${port}>${o.contactExpires !== undefined ? `;expires=${o.contactExpires}` : ''}`;
  const headers: Array<[string, string | number]> = [
    ['Via', `SIP/2.0/${o.transport ?? 'UDP'} ${host}:${port};branch=${branch()};rport`],
    ['Max-Forwards', 70],
    ['From', `${aor};tag=${o.fromTag ?? hex(4)}`],
    ['To', aor],
    ['Call-ID', o.callId ?? `${hex(8)}@${host}`],
    ['CSeq', `${o.cseq ?? 1} REGISTER`],
    ['Contact', contact],
  ];
  const expires = o.expires === undefined ? 3600 : o.expires;
  if (expires !== null) headers.push(['Expires', expires]);
  if (o.authorization) headers.push(['Authorization', o.authorization]);
  if (o.userAgent) headers.push(['User-Agent', o.userAgent]);
  return message(`REGISTER sip:${o.domain} SIP/2.0`, headers, o.extraHeaders);
}

/** Parameters of a `Digest …` challenge, keys lower-cased, values unquoted. */
export function parseChallenge(wwwAuthenticate: string): Record<string, string> {
  const params: Record<string, string> = {};
  const s = wwwAuthenticate.trim().replace(/^Digest\s+/i, '');
  const re = /([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    params[m[1]!.toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!;
  }
  return params;
}

export interface DigestOptions {
  user: string;
  password: string;
  realm: string;
  nonce: string;
  uri: string;
  /** default REGISTER */
  method?: string;
  /** default MD5 */
  algorithm?: 'MD5' | 'SHA-256';
  qop?: 'auth';
  /** nonce count, default 1 */
  nc?: number;
  cnonce?: string;
  opaque?: string;
}

/**
 * Authorization header value per RFC 7616 §3.4.1 (RFC 8760 for SHA-256 in SIP):
 *   response = H(H(A1):nonce[:nc:cnonce:qop]:H(A2)), A1 = user:realm:password, A2 = method:uri
 */
export function digestAuthorization(o: DigestOptions): string {
  const algorithm = o.algorithm ?? 'MD5';
  const H = (s: string) => createHash(algorithm === 'MD5' ? 'md5' : 'sha256').update(s, 'utf8').digest('hex');
  const ha1 = H(`${o.user}:${o.realm}:${o.password}`);
  const ha2 = H(`${o.method ?? 'REGISTER'}:${o.uri}`);
  const q = (s: string) => `"${s.replace(/(["\\])/g, '\\$1')}"`;
  let value = `Digest username=${q(o.user)},realm=${q(o.realm)},nonce=${q(o.nonce)},uri=${q(o.uri)}`;
  if (o.qop) {
    const nc = (o.nc ?? 1).toString(16).padStart(8, '0');
    const cnonce = o.cnonce ?? hex(8);
    value += `,response=${q(H(`${ha1}:${o.nonce}:${nc}:${cnonce}:${o.qop}:${ha2}`))},algorithm=${algorithm}`;
    value += `,qop=${o.qop},nc=${nc},cnonce=${q(cnonce)}`;
  } else {
    value += `,response=${q(H(`${ha1}:${o.nonce}:${ha2}`))},algorithm=${algorithm}`;
  }
  if (o.opaque !== undefined) value += `,opaque=${q(o.opaque)}`;
  return value;
}

/** A minimal audio offer/answer (contains the `v=0` and `m=audio` lines CDR tests look for). */
export function buildSdp(host = '127.0.0.1', port = 40_000): string {
  const id = Date.now();
  return [
    'v=0', `o=- ${id} ${id} IN IP4 ${host}`, 's=-', `c=IN IP4 ${host}`, 't=0 0',
    `m=audio ${port} RTP/AVP 0 8 101`, 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:101 telephone-event/8000', 'a=sendrecv', '',
  ].join('\r\n');
}

export interface InviteOptions {
  fromUser?: string;
  fromHost?: string;
  fromDisplayName?: string;
  toUser?: string;
  toHost?: string;
  /** default sip:<toUser>@<toHost> */
  requestUri?: string;
  callId?: string;
  cseq?: number;
  fromTag?: string;
  contactHost?: string;
  contactPort?: number;
  /** default: an audio offer from buildSdp */
  sdp?: string;
  /** whole header lines, e.g. 'X-Account-Sid: AC123' */
  extraHeaders?: string[];
}

export function buildInvite(o: InviteOptions = {}): string {
  const host = o.contactHost ?? '127.0.0.1';
  const port = o.contactPort ?? 5062;
  const fromUser = o.fromUser ?? 'alice';
  const toUri = `sip:${o.toUser ?? 'bob'}@${o.toHost ?? 'example.com'}`;
  const display = o.fromDisplayName ? `"${o.fromDisplayName}" ` : '';
  const body = o.sdp ?? buildSdp(host);
  return message(`INVITE ${o.requestUri ?? toUri} SIP/2.0`, [
    ['Via', `SIP/2.0/UDP ${host}:${port};branch=${branch()};rport`],
    ['Max-Forwards', 70],
    ['From', `${display}<sip:${fromUser}@${o.fromHost ?? 'example.com'}>;tag=${o.fromTag ?? hex(4)}`],
    ['To', `<${toUri}>`],
    ['Call-ID', o.callId ?? `${hex(8)}@${host}`],
    ['CSeq', `${o.cseq ?? 1} INVITE`],
    ['Contact', `<sip:${fromUser}@${host}:${port}>`],
    ['Content-Type', 'application/sdp'],
  ], o.extraHeaders, body);
}

const REASONS: Record<number, string> = {
  100: 'Trying', 180: 'Ringing', 183: 'Session Progress', 200: 'OK', 401: 'Unauthorized', 403: 'Forbidden',
  404: 'Not Found', 407: 'Proxy Authentication Required', 408: 'Request Timeout', 480: 'Temporarily Unavailable',
  486: 'Busy Here', 487: 'Request Terminated', 500: 'Server Internal Error', 503: 'Service Unavailable', 603: 'Decline',
};

export interface ResponseOptions {
  reason?: string;
  toTag?: string;
  /** body; default an SDP answer on a 2xx to INVITE; false = no body */
  sdp?: string | false;
  contactHost?: string;
  contactPort?: number;
  extraHeaders?: string[];
}

/** A response to `request` as the callee would send it: Via/From/To/Call-ID/CSeq copied, To tagged. */
export function buildResponse(request: string, status: number, o: ResponseOptions = {}): string {
  const req = splitSipMessage(request);
  const isInvite = /^INVITE\s/i.test(req.startLine);
  const headers: Array<[string, string]> = req.headers
    .filter((h) => /^(via|v)$/i.test(h.name))
    .map((h) => [h.name, h.value]);
  const to = findHeader(req, 'to') ?? '';
  headers.push(
    ['From', findHeader(req, 'from') ?? ''],
    ['To', status > 100 && !/;\s*tag=/i.test(to) ? `${to};tag=${o.toTag ?? hex(4)}` : to],
    ['Call-ID', findHeader(req, 'call-id') ?? ''],
    ['CSeq', findHeader(req, 'cseq') ?? ''],
  );
  const host = o.contactHost ?? '127.0.0.1';
  if (isInvite && status >= 180 && status < 300) headers.push(['Contact', `<sip:${host}:${o.contactPort ?? 5064}>`]);
  const body = o.sdp === false ? '' : o.sdp ?? (isInvite && status >= 200 && status < 300 ? buildSdp(host, 41_000) : '');
  if (body) headers.push(['Content-Type', 'application/sdp']);
  return message(`SIP/2.0 ${status} ${o.reason ?? REASONS[status] ?? 'Unknown'}`, headers, o.extraHeaders, body);
}

export interface ByeOptions {
  /** the dialog's INVITE and its 2xx response */
  invite: string;
  response: string;
  /** who hangs up (default 'caller') */
  from?: 'caller' | 'callee';
  cseq?: number;
  extraHeaders?: string[];
}

/** A BYE inside the dialog set up by `invite` / `response`. */
export function buildBye(o: ByeOptions): string {
  const inv = splitSipMessage(o.invite);
  const res = splitSipMessage(o.response);
  const callerSide = (o.from ?? 'caller') === 'caller';
  const inviteCSeq = Number((findHeader(inv, 'cseq') ?? '1').split(/\s+/)[0]);
  const caller = findHeader(inv, 'from') ?? '';
  const callee = findHeader(res, 'to') ?? '';
  // The BYE goes to the other party's Contact and carries the sender's own address in Via.
  const uriOf = (nameAddr: string | undefined) => nameAddr?.replace(/^.*<([^>]+)>.*$/, '$1');
  const target = uriOf(findHeader(callerSide ? res : inv, 'contact')) ?? inv.startLine.split(/\s+/)[1] ?? '';
  const ownUri = uriOf(findHeader(callerSide ? inv : res, 'contact')) ?? 'sip:127.0.0.1:5062';
  const sentBy = ownUri.replace(/^sips?:/i, '').replace(/^[^@]*@/, '').split(/[;?]/)[0];
  return message(`BYE ${target} SIP/2.0`, [
    ['Via', `SIP/2.0/UDP ${sentBy};branch=${branch()};rport`],
    ['Max-Forwards', 70],
    ['From', callerSide ? caller : callee],
    ['To', callerSide ? callee : caller],
    ['Call-ID', findHeader(inv, 'call-id') ?? ''],
    ['CSeq', `${o.cseq ?? (callerSide ? inviteCSeq + 1 : 1)} BYE`],
  ], o.extraHeaders);
}
