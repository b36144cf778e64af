// Who may use the admin API for what: bearer tokens with scopes (config/admin.ts), compared in
// constant time against every configured token, and a client address that keeps failing
// authentication refused for a while (the REGISTER flow's guard, over its own keys).
import { timingSafeEqual } from 'node:crypto';
import type { AdminScope, AdminToken } from '../../config/index.js';
import type { Logger } from '../log.js';
import { createOutage } from '../outage.js';
import type { Metrics } from '../metrics.js';
import type { AuthGuard } from '../register/guard.js';
import { presentedDigest, tokenDigest } from './bearer.js';

export type AuthResult =
  | { ok: true; token: { name: string; scopes: readonly AdminScope[] } }
  | { ok: false; status: 401 | 429 };

export interface AdminAuth {
  authenticate(authorization: string | undefined, clientAddress: string): Promise<AuthResult>;
}

export function createAdminAuth(d: { tokens: readonly AdminToken[]; guard: AuthGuard; metrics: Metrics; log: Logger }): AdminAuth {
  const known = d.tokens.map((t) => ({ name: t.name, scopes: t.scopes, digest: tokenDigest(t.token) }));
  // The guard lives in Redis. Without Redis the API still requires a valid token; it only cannot
  // count failures, which is said once per outage rather than refusing every operator.
  const guardOutage = createOutage(d.log, {
    lost: 'admin API: cannot count authentication failures while Redis is unreachable',
    restored: 'admin API: authentication-failure counting resumed', level: 'warn',
  });
  const guarded = async <T>(work: Promise<T>, fallback: T): Promise<T> => {
    try {
      const v = await work;
      guardOutage.recover();
      return v;
    } catch (err) {
      guardOutage.fail(err);
      return fallback;
    }
  };

  return {
    async authenticate(authorization, clientAddress) {
      if (await guarded(d.guard.isBlocked(clientAddress), false)) return { ok: false, status: 429 };
      const presented = presentedDigest(authorization);
      // Every token is compared, so the time taken says nothing about which one (if any) matched.
      let match: (typeof known)[number] | null = null;
      for (const k of known) if (presented && timingSafeEqual(presented, k.digest) && !match) match = k;
      if (match) return { ok: true, token: { name: match.name, scopes: match.scopes } };
      const outcome = await guarded(d.guard.recordFailure(clientAddress), 'counted' as const);
      if (outcome === 'block_started') {
        d.metrics.adminSourcesBlocked.inc();
        d.log.warn('admin API: a client address is refused for repeated authentication failures (ADMIN_AUTH_FAIL_LIMIT)');
      }
      return { ok: false, status: outcome === 'blocked' ? 429 : 401 };
    },
  };
}

/** The scopes of `needed` that `have` lacks. */
export const missingScopes = (have: readonly AdminScope[], needed: readonly AdminScope[]) => needed.filter((s) => !have.includes(s));
