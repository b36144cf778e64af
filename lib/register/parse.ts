// Turns a REGISTER into what the registrar needs, or into the 400 that explains why not.
// drachtio-server rejects some malformed REGISTERs itself; everything else lands here.
import type { Config } from '../../config/index.js';
import { MAX_BINDINGS_PER_AOR } from './bindings.js';
import {
  parseContactHeader, parseDeltaSeconds, parseDigestAuthorization, parseNameAddr, parseSipUri,
  type DigestCredentials,
} from './sip-headers.js';

export interface InboundRequest {
  method: string;
  uri: string;
  source_address: string;
  source_port: number | string;
  protocol: string;
  get(name: string): string | undefined;
}

export interface ContactChange { uri: string; expires: number }

export interface RegisterRequest {
  user: string;
  domain: string;
  aor: string;
  /** `Contact: *` with `Expires: 0`. */
  removeAll: boolean;
  contacts: ContactChange[];
  credentials: DigestCredentials | null;
  userAgent: string | null;
  callId: string;
  cseq: number;
}

export type Parsed = { ok: true; value: RegisterRequest } | { ok: false; status: 400; reason: string };

const MAX_CONTACT_URI = 512;
const bad = (reason: string): Parsed => ({ ok: false, status: 400, reason });

export function parseRegister(req: InboundRequest, cfg: Config['register']): Parsed {
  const toValue = req.get('To');
  const to = toValue ? parseNameAddr(toValue) : null;
  const aor = to ? parseSipUri(to.uri) : null;
  if (!aor || !aor.user) return bad('Bad To Header');

  const callId = req.get('Call-ID')?.trim();
  if (!callId || callId.length > 255) return bad('Bad Call-ID Header');
  const cseqMatch = /^\s*(\d{1,10})\s+REGISTER\s*$/i.exec(req.get('CSeq') ?? '');
  const cseq = cseqMatch ? Number(cseqMatch[1]) : NaN;
  if (!(cseq < 2 ** 31)) return bad('Bad CSeq Header');

  const expiresHeader = req.get('Expires');
  const headerExpires = expiresHeader === undefined ? null : parseDeltaSeconds(expiresHeader);
  if (expiresHeader !== undefined && headerExpires === null) return bad('Bad Expires Header');

  const contactValue = req.get('Contact');
  if (contactValue === undefined) return bad('Missing Contact Header');
  const contact = parseContactHeader(contactValue);
  if (!contact) return bad('Bad Contact Header');

  let credentials: DigestCredentials | null = null;
  const authValue = req.get('Authorization');
  if (authValue !== undefined) {
    credentials = parseDigestAuthorization(authValue);
    if (!credentials) return bad('Bad Authorization Header');
  }

  const ua = req.get('User-Agent');
  const base = {
    user: aor.user,
    domain: aor.host,
    aor: `sip:${aor.user}@${aor.host}`,
    credentials,
    userAgent: ua ? ua.slice(0, 128) : null,
    callId,
    cseq,
  };

  if (contact.star) {
    // RFC 3261 10.3 step 6: '*' is only valid with Expires: 0.
    if (headerExpires !== 0) return bad('Contact * Requires Expires 0');
    return { ok: true, value: { ...base, removeAll: true, contacts: [] } };
  }
  if (contact.contacts.length > MAX_BINDINGS_PER_AOR) return bad('Too Many Contacts');

  const contacts: ContactChange[] = [];
  for (const c of contact.contacts) {
    if (c.uri.length > MAX_CONTACT_URI || !parseSipUri(c.uri)) return bad('Bad Contact URI');
    const param = c.params.expires;
    let expires: number | null = headerExpires ?? cfg.defaultExpires;
    if (param !== undefined) {
      expires = param === null ? null : parseDeltaSeconds(param);
      if (expires === null) return bad('Bad Contact Expires');
    }
    contacts.push({ uri: c.uri, expires });
  }
  return { ok: true, value: { ...base, removeAll: false, contacts } };
}
