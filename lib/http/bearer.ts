// `Authorization: Bearer <token>` checked in constant time: each API has its own token (ADMIN_TOKEN,
// LOCATION_TOKEN, METRICS_TOKEN), and one never opens another's routes.
import { createHash, timingSafeEqual } from 'node:crypto';

/** Compared as fixed-length digests: the comparison takes the same time whatever the input's length. */
export const tokenDigest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** The token an `Authorization` header presents, as a digest to compare; null when it presents none. */
export const presentedDigest = (h: string | undefined): Buffer | null =>
  h && h.startsWith('Bearer ') ? tokenDigest(h.slice(7)) : null;

export function bearerMatcher(token: string): (header: string | undefined) => boolean {
  const expected = tokenDigest(token);
  return (h) => {
    const presented = presentedDigest(h);
    return presented !== null && timingSafeEqual(presented, expected);
  };
}
