/**
 * Just enough SIP message handling for the server side of the peer:
 * split/join messages, the Via rewrite sofia-sip does on receipt, and the
 * completion (Via, To tag, Content-Length) it does before sending a response.
 */

export interface SipResponse {
  status: number;
  reason: string;
  /** lower-cased full names (compact forms expanded); repeated headers joined with ',' */
  headers: Record<string, string>;
  raw: string;
}

export interface SipHeader {
  name: string;
  value: string;
}

export interface SipParts {
  startLine: string;
  headers: SipHeader[];
  body: string;
}

const CRLF = '\r\n';

const COMPACT_FORMS: Record<string, string> = {
  i: 'call-id', m: 'contact', e: 'content-encoding', l: 'content-length', c: 'content-type',
  f: 'from', s: 'subject', k: 'supported', t: 'to', v: 'via',
};

/** Lower-cased full header name, so `v`, `VIA` and `Via` compare equal. */
export function canonicalName(name: string): string {
  const lower = name.trim().toLowerCase();
  return COMPACT_FORMS[lower] ?? lower;
}

/** Split a raw message into start line, headers (folded lines unfolded) and body. */
export function splitSipMessage(raw: string): SipParts {
  const end = raw.indexOf(CRLF + CRLF);
  const head = end < 0 ? raw : raw.slice(0, end);
  const body = end < 0 ? '' : raw.slice(end + 4);
  const lines = head.split(/\r?\n/);
  const headers: SipHeader[] = [];
  for (const line of lines.slice(1)) {
    if (/^[ \t]/.test(line) && headers.length) {
      headers[headers.length - 1]!.value += ' ' + line.trim();
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    headers.push({ name: line.slice(0, colon).trim(), value: line.slice(colon + 1).trim() });
  }
  return { startLine: lines[0] ?? '', headers, body };
}

/** Serialize; with fixContentLength the Content-Length is recomputed in bytes and moved last, as sofia does. */
export function joinSipMessage(parts: SipParts, fixContentLength: boolean): string {
  let headers = parts.headers;
  if (fixContentLength) {
    headers = headers.filter((h) => canonicalName(h.name) !== 'content-length');
    headers.push({ name: 'Content-Length', value: String(Buffer.byteLength(parts.body, 'utf8')) });
  }
  let s = parts.startLine + CRLF;
  for (const h of headers) s += `${h.name}: ${h.value}${CRLF}`;
  return s + CRLF + parts.body;
}

export function findHeader(parts: SipParts, name: string): string | undefined {
  const wanted = canonicalName(name);
  return parts.headers.find((h) => canonicalName(h.name) === wanted)?.value;
}

export function headerMap(headers: SipHeader[]): Record<string, string> {
  const map: Record<string, string> = {};
  for (const h of headers) {
    const key = canonicalName(h.name);
    map[key] = key in map ? `${map[key]},${h.value}` : h.value;
  }
  return map;
}

export function parseSipResponse(raw: string): SipResponse {
  const parts = splitSipMessage(raw);
  const m = /^SIP\/2\.0\s+(\d{3})\s*(.*)$/.exec(parts.startLine);
  if (!m) throw new Error(`not a SIP response: ${JSON.stringify(parts.startLine)}`);
  return { status: Number(m[1]), reason: m[2]!.trim(), headers: headerMap(parts.headers), raw };
}

/** The method of a request, from its start line. */
export function requestMethod(parts: SipParts): string {
  const m = /^([A-Za-z]+)\s+\S+\s+SIP\/2\.0\s*$/.exec(parts.startLine);
  if (!m) throw new Error(`not a SIP request: ${JSON.stringify(parts.startLine)}`);
  return m[1]!.toUpperCase();
}

/** True when a From/To value carries a tag parameter (outside the <uri>). */
export function hasTag(nameAddr: string): boolean {
  const outsideUri = nameAddr.includes('>') ? nameAddr.slice(nameAddr.lastIndexOf('>')) : nameAddr;
  return /;\s*tag\s*=/i.test(outsideUri);
}

/**
 * What sofia-sip's agent_check_request_via does to the top Via of a received
 * request (drachtio runs with server rport on): drop any `received`, add
 * `received=<ip>` when the sent-by host differs from the packet source, then
 * set `rport=<port>` in place (or append it). Only the top via-parm changes.
 */
export function rewriteTopVia(parts: SipParts, sourceIp: string, sourcePort: number): SipParts {
  const index = parts.headers.findIndex((h) => canonicalName(h.name) === 'via');
  if (index < 0) return parts;
  const header = parts.headers[index]!;
  const comma = header.value.indexOf(',');
  const top = comma < 0 ? header.value : header.value.slice(0, comma);
  const rest = comma < 0 ? '' : header.value.slice(comma);
  const headers = parts.headers.slice();
  headers[index] = { name: header.name, value: rewriteViaParm(top, sourceIp, sourcePort) + rest };
  return { ...parts, headers };
}

function rewriteViaParm(via: string, ip: string, port: number): string {
  const [sent = '', ...rawParams] = via.split(';');
  let params = rawParams.map((p) => p.trim()).filter((p) => p && paramName(p) !== 'received');
  const bareIp = ip.replace(/^\[|\]$/g, '');
  if (viaHost(sent).toLowerCase() !== bareIp.toLowerCase()) params = setParam(params, 'received', bareIp);
  params = setParam(params, 'rport', String(port));
  return [sent.trim(), ...params].join(';');
}

/** Host of a via sent-by, e.g. `SIP/2.0/UDP [::1]:5060` -> `::1`. */
function viaHost(sent: string): string {
  const sentBy = sent.trim().split(/\s+/)[1] ?? '';
  if (sentBy.startsWith('[')) return sentBy.slice(1, sentBy.indexOf(']'));
  const colon = sentBy.indexOf(':');
  return colon < 0 ? sentBy : sentBy.slice(0, colon);
}

function paramName(param: string): string {
  const eq = param.indexOf('=');
  return (eq < 0 ? param : param.slice(0, eq)).trim().toLowerCase();
}

/** msg_header_replace_param semantics: replace in place when present, else append. */
function setParam(params: string[], name: string, value: string): string[] {
  const i = params.findIndex((p) => paramName(p) === name);
  if (i < 0) return [...params, `${name}=${value}`];
  const copy = params.slice();
  copy[i] = `${name}=${value}`;
  return copy;
}
