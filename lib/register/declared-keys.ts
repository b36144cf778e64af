// The binding scripts are given every key they touch, binding keys included (a Redis Cluster may refuse a
// script any other). Each instance remembers which cids an AOR held when it last saw it (hashes: no address)
// and declares their keys; a script that finds a live one it was not given changes nothing and names it, and
// is called again with it. A forgotten AOR costs a round trip, never a wrong answer.
import { createCache } from '../cache.js';
import { UndeclaredKeysError } from '../errors.js';

/** A script's reply: its status, then what it returns. */
export type Reply<S> = [S, ...(string | null)[]];

/** The AORs whose cids one store remembers, and for how long. */
const KNOWN_AORS = 100_000;
const KNOWN_FOR_MS = 3_600_000;
/** A script retried with the keys it named, at most this many calls in all, before giving up. */
const ATTEMPTS = 3;

export interface KeyMemory {
  /**
   * Calls `call` with the cids `aor` is believed to hold besides `own`, then again with those the script named
   * ({'keys', cid, ...}); remembers what the AOR holds from an 'ok' answer (`held`).
   */
  declaring<S extends string>(
    what: string, aor: string, own: readonly string[], call: (others: string[]) => Promise<Reply<S | 'keys'>>, held: (out: Reply<S>) => string[],
  ): Promise<Reply<S>>;
}

export function createKeyMemory(): KeyMemory {
  // An hour at most, the longest a binding lives: what an AOR held longer ago says nothing now.
  const known = createCache<readonly string[]>({ max: KNOWN_AORS, ttlMs: KNOWN_FOR_MS });
  return {
    async declaring(what, aor, own, call, held) {
      const mine = new Set(own);
      const others = new Set((known.get(aor) ?? []).filter((c) => !mine.has(c)));
      for (let attempt = 1; ; attempt++) {
        const out = await call([...others]);
        if (out[0] !== 'keys') {
          const done = out as Reply<Exclude<typeof out[0], 'keys'>>; // TypeScript does not narrow a generic tuple by its first element
          if (done[0] === 'ok') {
            const cids = held(done);
            if (cids.length > 0) known.set(aor, cids); else known.delete(aor);
          }
          return done;
        }
        if (attempt === ATTEMPTS) throw new UndeclaredKeysError(what, ATTEMPTS);
        for (const c of out.slice(1)) others.add(c!);
      }
    },
  };
}
