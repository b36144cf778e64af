// The location flow: where is user@domain registered now? For call-routing apps, as Kamailio's
// lookup("location") or jambonz's getRegistration answer it. The answer comes from the live binding
// keys alone (never a copy, never a cache), so it cannot outlive the bindings: an expired or erased
// binding is gone from the next answer. MySQL is asked only which account owns the domain (cached).
import { onStore } from '../errors.js';
import type { Binding, BindingStore } from '../register/bindings.js';

export const MAX_BATCH = 100;

export interface Aor { user: string; domain: string }

/** One binding as a call app needs it: send the INVITE to `contact` via source_address:source_port over `transport`. */
export interface LocatedBinding {
  contact: string;
  source_address: string;
  source_port: number;
  transport: string;
  /** Whole seconds left, at least 1. */
  expires_in: number;
  user_agent: string | null;
}

export interface Location { aor: string; bindings: LocatedBinding[] }

export interface LocationService {
  /** Each AOR's live bindings, most recent first, in the order asked; none bound: `bindings: []`. */
  lookup(aors: readonly Aor[]): Promise<Location[]>;
}

// The AOR's user as the REGISTER's To URI carried it, %-decoded (clients.username is at most 64);
// the domain a hostname or IP literal, compared lower-case as the registrar stores it.
const USER = /^[^\s@\x00-\x1f\x7f]{1,64}$/;
const DOMAIN = /^(?:[a-z0-9](?:[a-z0-9-]{0,62})(?:\.[a-z0-9](?:[a-z0-9-]{0,62}))*|\[[0-9a-f:.]{2,45}\])$/;

/** `user@domain` or `sip:user@domain` (`sips:` too); null when it is neither. */
export function parseAor(s: string): Aor | null {
  if (typeof s !== 'string' || s.length > 300) return null;
  const bare = s.replace(/^sips?:/i, '');
  const at = bare.lastIndexOf('@');
  const user = bare.slice(0, at);
  const domain = bare.slice(at + 1).toLowerCase();
  return at > 0 && USER.test(user) && DOMAIN.test(domain) && domain.length <= 253 ? { user, domain } : null;
}

export function createLocationService(d: {
  bindings: Pick<BindingStore, 'locate'>;
  /** The account whose sip_realm is `domain`; null when none. */
  accountOf: (domain: string) => Promise<string | null>;
  now?: () => number;
}): LocationService {
  const now = d.now ?? Date.now;

  const shape = (b: Binding, t: number): LocatedBinding => ({
    contact: b.contact,
    source_address: b.sourceAddress,
    source_port: b.sourcePort,
    transport: b.transport,
    expires_in: Math.max(1, Math.ceil((b.expiresAt - t) / 1000)),
    user_agent: b.userAgent,
  });

  return {
    async lookup(aors) {
      const t = now();
      const domains = [...new Set(aors.map((a) => a.domain))];
      const accounts = new Map(await Promise.all(domains.map(async (dom) =>
        [dom, await onStore('mysql', d.accountOf(dom))] as const)));
      // Issued in one turn, so the batcher sends every AOR's read to Redis as one pipeline.
      return Promise.all(aors.map(async (a) => {
        const account = accounts.get(a.domain);
        const found = account ? await onStore('redis', d.bindings.locate(account, a.user, t)) : [];
        return { aor: `${a.user}@${a.domain}`, bindings: found.map((b) => shape(b, t)) };
      }));
    },
  };
}
