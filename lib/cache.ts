// The one in-process cache: bounded (least recently used entries go first, lru-cache) and, with
// `ttlMs`, each entry fresh for that long by the injected clock, so tests control time.
import { LRUCache } from 'lru-cache';

export interface Cache<V> {
  /** The entry, if present and fresh; `undefined` otherwise (a cached `null` is a value). */
  get(key: string): V | undefined;
  set(key: string, value: V): void;
  delete(key: string): void;
  /** Drops the entries `drop` accepts, or every entry. */
  clear(drop?: (key: string, value: V) => boolean): void;
}

export function createCache<V>(o: { max: number; ttlMs?: number; now?: () => number }): Cache<V> {
  const now = o.now ?? Date.now;
  const ttl = o.ttlMs;
  const lru = new LRUCache<string, { value: V; expires: number }>({ max: o.max });
  return {
    get(key) {
      const e = lru.get(key);
      if (e === undefined) return undefined;
      if (ttl !== undefined && e.expires <= now()) {
        lru.delete(key);
        return undefined;
      }
      return e.value;
    },
    set(key, value) {
      if (ttl === 0) return;
      lru.set(key, { value, expires: ttl === undefined ? Infinity : now() + ttl });
    },
    delete: (key) => { lru.delete(key); },
    clear(drop) {
      if (!drop) return lru.clear();
      for (const [k, e] of lru.entries()) if (drop(k, e.value)) lru.delete(k);
    },
  };
}

/** A pure function of a string, remembered for the last `max` inputs (hashes computed per event). */
export function memoize(fn: (s: string) => string, max: number): (s: string) => string {
  const cache = createCache<string>({ max });
  return (s) => {
    let v = cache.get(s);
    if (v === undefined) {
      v = fn(s);
      cache.set(s, v);
    }
    return v;
  };
}
