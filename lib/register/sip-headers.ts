// Parsers for the few SIP headers the registrar needs. drachtio-srf's parser throws on bad input
// and mis-handles `Contact: *`, so these return null (never throw) on anything malformed. Input is
// untrusted: lengths are capped, and regexes have no nested quantifiers (no catastrophic backtracking).
export const MAX_HEADER_LENGTH = 4096;
export const MAX_CONTACTS = 20;

export type Params = Record<string, string | null>;
/** `host` is lower-cased; an IPv6 reference keeps its brackets ("[::1]"). `user` is %-decoded. */
export interface SipUri {
  scheme: 'sip' | 'sips'; user: string | null; host: string; port: number | null; params: Params;
}
/** `uri` is the raw URI text; `params` are header params: lower-cased names, values unquoted. */
export interface NameAddr { displayName: string | null; uri: string; params: Params }
export type ContactHeader = { star: true } | { star: false; contacts: NameAddr[] };
/** `algorithm` is upper-cased, 'MD5' when absent. */
export interface DigestCredentials {
  scheme: 'Digest'; username: string; realm: string; nonce: string; uri: string; response: string;
  algorithm: string; qop: string | null; nc: string | null; cnonce: string | null; opaque: string | null;
}

const TOKEN = /[A-Za-z0-9\-.!%*_+`'~]+/y; // RFC 3261 25.1 token
const PARAM_VALUE = /[A-Za-z0-9\-.!%*_+`'~:[\]/]+/y; // token or host / IPv6 ref; '/' for URI params
const DISPLAY_TOKENS = /[A-Za-z0-9\-.!%*_+`'~ \t]*/y; // unquoted display name
const URI_CHARS = /^[\x21\x23-\x3b\x3d\x3f-\x7e]+$/; // printable ASCII except " < >
const USER_CHARS = /^[A-Za-z0-9\-_.!~*'()%&=+$,;?/]+$/;
const CONTROL_CHARS = /[\x00-\x08\x0a-\x1f\x7f]/; // CTLs except HTAB


function capped(s: string | undefined): string | null {
  return typeof s === 'string' && s.length <= MAX_HEADER_LENGTH ? s.trim() : null;
}

function matchAt(re: RegExp, s: string, i: number): string | null {
  re.lastIndex = i;
  return re.exec(s)?.[0] ?? null;
}

function skipWs(s: string, i: number): number {
  while (s[i] === ' ' || s[i] === '\t') i++;
  return i;
}

/** Reads the quoted-string opening at s[i], undoing backslash escapes. */
function readQuoted(s: string, i: number): { value: string; end: number } | null {
  // Fast path, the usual case (every quoted value of a Digest header): no escape before the closing
  // quote, so the value is that slice as it stands. One scan instead of a test per character.
  const close = s.indexOf('"', i + 1);
  if (close < 0) return null; // unterminated
  const plain = s.slice(i + 1, close);
  if (!plain.includes('\\')) return CONTROL_CHARS.test(plain) ? null : { value: plain, end: close + 1 };
  let out = '';
  for (let j = i + 1; j < s.length; j++) {
    let c = s[j];
    if (c === '"') return { value: out, end: j + 1 };
    if (c === '\\' && ++j < s.length) c = s[j];
    if (j >= s.length || CONTROL_CHARS.test(c)) return null; // no CR/LF/NUL smuggled into values
    out += c;
  }
  return null; // unterminated
}

// Parses `name[=value]` pairs each preceded by `sep`, e.g. ";a=1;b" (callers prefix `sep` to
// lists that only have it between pairs). Duplicate names are rejected: they are ambiguous, and a
// classic way to slip a second value past one of two checkers.
function parseParams(s: string, sep: ';' | ','): Params | null {
  const out: Params = Object.create(null); // no prototype, so "__proto__" is just a key
  for (let i = skipWs(s, 0); i < s.length; ) {
    if (s[i] !== sep) return null;
    i = skipWs(s, i + 1);
    const name = matchAt(TOKEN, s, i)?.toLowerCase();
    if (name === undefined || Object.hasOwn(out, name)) return null;
    i = skipWs(s, i + name.length);
    let value: string | null = null;
    if (s[i] === '=') {
      i = skipWs(s, i + 1);
      const q = s[i] === '"' ? readQuoted(s, i) : null;
      value = q ? q.value : matchAt(PARAM_VALUE, s, i);
      if (value === null) return null;
      i = skipWs(s, q ? q.end : i + value.length);
    }
    out[name] = value;
  }
  return out;
}

function decodeUser(userinfo: string): string | null {
  const raw = userinfo.split(':')[0]; // drop any password: we never want it
  if (!USER_CHARS.test(raw)) return null;
  try {
    const user = decodeURIComponent(raw);
    return CONTROL_CHARS.test(user) ? null : user;
  } catch {
    return null; // bad %-escape or invalid UTF-8
  }
}

function parseHostPort(hp: string): { host: string; port: number | null } | null {
  // IPv6 reference, or hostname / IPv4, then an optional port. Anchored; no nested quantifiers.
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9][a-z0-9.-]*)(?::(\d{1,5}))?$/i.exec(hp);
  const port = m?.[2] === undefined ? null : Number(m[2]);
  if (m === null || m[1].includes('..') || (port !== null && (port < 1 || port > 65535))) return null;
  return { host: m[1].toLowerCase(), port };
}

/** Parses a sip:/sips: URI. URI headers ("?...") are dropped: the registrar never needs them.
 *  URI params reuse the header-param parser, a little laxer than RFC 3261 (e.g. allows quotes). */
export function parseSipUri(s: string): SipUri | null {
  // scheme ":" [userinfo "@"] hostport *(";" param) ["?" headers]. '@' cannot appear unescaped
  // in userinfo, so the first one ends it. Anchored, and no nested quantifiers.
  const m = /^(sips?):(?:([^@]*)@)?([^;?]*)([^?]*)/i.exec(capped(s) ?? '');
  if (m === null) return null;
  const user = m[2] === undefined ? null : decodeUser(m[2]);
  const hp = parseHostPort(m[3]);
  const params = parseParams(m[4], ';');
  if ((m[2] !== undefined && user === null) || hp === null || params === null) return null;
  return { scheme: m[1].toLowerCase() as 'sip' | 'sips', user, ...hp, params };
}

/** Splits a header list on commas outside quoted strings and <...>; trims each element. */
export function splitHeaderList(value: string): string[] | null {
  const s = capped(value);
  if (s === null || s === '') return s === null ? null : [];
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '"') {
      const q = readQuoted(s, i); // jump over the quoted string, commas and all
      if (q === null) return null;
      i = q.end - 1;
    } else if (s[i] === '<') {
      if ((i = s.indexOf('>', i)) < 0) return null; // jump to the matching '>'
    } else if (s[i] === '>') return null;
    else if (s[i] === ',') {
      parts.push(s.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(s.slice(start).trim());
  return parts.includes('') ? null : parts; // empty elements ("a,,b", "a,") are malformed
}

/** Parses one name-addr or addr-spec plus its header parameters (RFC 3261 20.10). */
export function parseNameAddr(value: string): NameAddr | null {
  const s = capped(value);
  if (!s) return null;
  let displayName: string | null = null;
  let i = 0;
  if (s[0] === '"') {
    const q = readQuoted(s, 0);
    if (q === null || s[(i = skipWs(s, q.end))] !== '<') return null;
    displayName = q.value;
  } else {
    const tokens = matchAt(DISPLAY_TOKENS, s, 0) ?? '';
    if (s[tokens.length] === '<') [displayName, i] = [tokens.trim() || null, tokens.length];
  }
  // name-addr: the URI is inside <...>. addr-spec: it ends at the first ';' and what follows are
  // header params, so a URI containing ',', '?' or ';' must be in <> (RFC 3261 20.10).
  const angle = s[i] === '<';
  const end = angle ? s.indexOf('>', i) : (s + ';').indexOf(';');
  const uri = angle ? s.slice(i + 1, end) : s.slice(0, end);
  if (end < 0 || (!angle && /[?,]/.test(uri)) || !URI_CHARS.test(uri)) return null;
  const params = parseParams(s.slice(angle ? end + 1 : end), ';');
  return params === null ? null : { displayName, uri, params };
}

/** `*` alone (remove all bindings), or 1..MAX_CONTACTS well-formed contacts. */
export function parseContactHeader(value: string): ContactHeader | null {
  const s = capped(value);
  if (s === '*') return { star: true };
  const parts = s === null ? null : splitHeaderList(s);
  if (parts === null || parts.length === 0 || parts.length > MAX_CONTACTS) return null;
  const contacts = parts.map(parseNameAddr);
  // Contact URIs are absolute (RFC 3261 20.10), which also rules out '*' inside a list (10.2.2).
  if (contacts.some((c) => c === null || !/^[a-z][a-z0-9+.-]*:/i.test(c.uri))) return null;
  return { star: false, contacts: contacts as NameAddr[] };
}

/** delta-seconds: digits only, 0..2^32-1. */
export function parseDeltaSeconds(value: string | null | undefined): number | null {
  const v = typeof value === 'string' ? value.trim() : '';
  return /^\d{1,10}$/.test(v) && Number(v) <= 4294967295 ? Number(v) : null;
}

/** Parses an `Authorization` / `Proxy-Authorization` value: `Digest k=v, k="v", ...`. */
export function parseDigestAuthorization(value: string): DigestCredentials | null {
  const s = capped(value);
  const m = s === null ? null : /^digest[ \t]+/i.exec(s);
  const p = s === null || m === null ? null : parseParams(',' + s.slice(m[0].length), ',');
  // Every auth-param has a value (RFC 7616 3.4); a bare name is malformed.
  if (p === null || Object.values(p).includes(null)) return null;
  const { username, realm, nonce, uri, response, algorithm, qop, nc, cnonce, opaque } = p;
  if (!username || realm == null || !nonce || !uri || !response) return null;
  // nc is 8 hex digits. With qop the response covers nc and cnonce, so both must be present.
  if ((nc != null && !/^[0-9a-f]{8}$/i.test(nc)) || (qop != null && (nc == null || !cnonce))) return null;
  return {
    scheme: 'Digest', username, realm, nonce, uri, response, algorithm: (algorithm ?? 'MD5').toUpperCase(),
    qop: qop ?? null, nc: nc ?? null, cnonce: cnonce ?? null, opaque: opaque ?? null,
  };
}
