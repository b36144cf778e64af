// The allow-list: the only parts of a CDR event's SIP message the call flow ever reads.
// Call-ID, Request-URI, From, To, the top Via, User-Agent and (from our own application only)
// X-Account-Sid. Nothing else (no body, no other header) leaves the drachtio-srf message object.
// Never throws: a malformed value is simply absent (null).
import { parseNameAddr, parseSipUri, splitHeaderList } from '../register/sip-headers.js';

/** The subset of drachtio-srf's SipMessage the call flow touches. */
export interface CdrSipMessage {
  readonly method?: string;
  readonly uri?: string;
  readonly status?: number;
  get(name: string): string | undefined;
}

export const MAX_CALL_ID = 255;
export const MAX_USER = 128;
export const MAX_HOST = 255;
export const MAX_USER_AGENT = 64;

const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;
const HOST_CHARS = /^[A-Za-z0-9.:[\]-]+$/;
const CONTROL = /[\x00-\x1f\x7f]/;
/** Our account ids are UUIDs; accept the jambonz shape (up to 36 of hex digits and dashes, or letters). */
const ACCOUNT_SID = /^[A-Za-z0-9-]{1,36}$/;

export function isCdrSipMessage(m: unknown): m is CdrSipMessage {
  return typeof m === 'object' && m !== null && typeof (m as { get?: unknown }).get === 'function';
}

/** Reads a header through the message's own accessor, which may itself throw on odd input. */
export function header(msg: CdrSipMessage, name: string): string | null {
  try {
    const v = msg.get(name);
    return typeof v === 'string' && v.trim() !== '' ? v.trim() : null;
  } catch {
    return null;
  }
}

/** Call-ID: printable ASCII (compared byte for byte, RFC 3261 8.1.1.4), at most MAX_CALL_ID characters. */
export function callIdOf(msg: CdrSipMessage): string | null {
  const v = header(msg, 'Call-ID');
  return v !== null && v.length <= MAX_CALL_ID && PRINTABLE_ASCII.test(v) ? v : null;
}

export interface UriParts { user: string | null; host: string | null }

/** User and host of a sip:, sips: or tel: URI; null when it is none of these or malformed. */
export function uriParts(uri: string | null | undefined): UriParts | null {
  if (typeof uri !== 'string') return null;
  const tel = /^tel:([^;?]+)/i.exec(uri.trim());
  if (tel) return { user: cleanUser(tel[1]), host: null };
  const sip = parseSipUri(uri.trim());
  if (!sip) return null;
  return { user: cleanUser(sip.user), host: cleanHost(sip.host) };
}

/** User and host of the URI inside a From/To value. */
export function nameAddrParts(value: string | null): UriParts | null {
  if (value === null) return null;
  const na = parseNameAddr(value);
  return na ? uriParts(na.uri) : null;
}

/**
 * The far end of a request received from the network: drachtio-server (sofia) stamps the
 * top Via with `received=<packet source>` when it differs from the sent-by host, so
 * `received` wins, else the sent-by host.
 */
export function topViaSource(via: string | null): string | null {
  if (via === null) return null;
  const top = splitHeaderList(via)?.[0];
  if (!top) return null;
  const [sent = '', ...params] = top.split(';');
  for (const p of params) {
    const m = /^\s*received\s*=\s*(\S+)\s*$/i.exec(p);
    if (m) return cleanHost(m[1]);
  }
  const sentBy = sent.trim().split(/\s+/)[1] ?? '';
  if (sentBy.startsWith('[')) return cleanHost(sentBy.slice(0, sentBy.indexOf(']') + 1));
  return cleanHost(sentBy.split(':')[0]);
}

/**
 * A User-Agent reduced to its leading product tokens ("Bria 6.5.2"), so the
 * column says which device software was used and nothing more: tokens stop at the first one
 * that looks like an address (a version shaped like an IPv4 address included), a MAC, an email, a
 * serial or phone number, or free text.
 */
export function sanitiseUserAgent(ua: string | null): string | null {
  if (ua === null) return null;
  const kept: string[] = [];
  for (const token of ua.trim().split(/\s+/).slice(0, 4)) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._/+_-]{0,31}$/.test(token)) break;
    if (/\d{6,}/.test(token)) break; // serial and phone numbers
    if (/(^|\D)\d{1,3}(\.\d{1,3}){3}(\D|$)/.test(token)) break; // an IPv4 address (a version shaped like one goes too)
    if (/([0-9a-f]{2}[:-]){2,}/i.test(token) || /[0-9a-f]{12}/i.test(token)) break; // MACs
    kept.push(token);
  }
  const out = kept.join(' ').slice(0, MAX_USER_AGENT).trim();
  return out === '' ? null : out;
}

/** X-Account-Sid, when it has the shape of an account id. Callers trust it only from our application. */
export function accountSidHeader(msg: CdrSipMessage): string | null {
  const v = header(msg, 'X-Account-Sid');
  return v !== null && ACCOUNT_SID.test(v) ? v : null;
}

function cleanUser(u: string | null | undefined): string | null {
  if (!u) return null;
  const v = u.trim();
  return v !== '' && v.length <= MAX_USER && !CONTROL.test(v) ? v : null;
}

function cleanHost(h: string | null | undefined): string | null {
  if (!h) return null;
  const v = h.trim().toLowerCase();
  return v !== '' && v.length <= MAX_HOST && HOST_CHARS.test(v) ? v : null;
}
