// `Authorization: Bearer <token>` checked in constant time: each API has its own token (ADMIN_TOKEN,
// LOCATION_TOKEN), and one never opens another's routes.
import { createHash, timingSafeEqual } from 'node:crypto';

export function bearerMatcher(token: string): (header: string | undefined) => boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  const expected = digest(token);
  // Comparing fixed-length digests keeps the comparison constant-time whatever the input's length.
  return (h) => !!h && h.startsWith('Bearer ') && timingSafeEqual(digest(h.slice(7)), expected);
}
