// Keys that must live together on a Redis Cluster share a hash tag (`{…}`: only it decides the slot).
// A store that also keeps an index over all its entries (the live bindings, the legs in flight, the
// spool) splits that index into a fixed number of shards, each with its own tag, and puts every entry's
// own keys under its shard's tag: one script can then update an entry and its index shard atomically
// (the keys share a slot), and the shards spread over the masters. Readers of an index read every shard.
import { createHash } from 'node:crypto';

export interface Shards {
  readonly count: number;
  /** `{<letter><n>}` for each shard, in order. */
  readonly tags: readonly string[];
  /** The tag of the shard `id` belongs to (stable: a hash of id). */
  tagOf(id: string): string;
}

/** `letter` names the store (b: bindings, c: calls) so two stores' shards never share a slot by name. */
export function createShards(letter: string, count: number): Shards {
  const tags = Array.from({ length: count }, (_, i) => `{${letter}${i}}`);
  return {
    count,
    tags,
    tagOf: (id) => tags[createHash('sha1').update(id).digest().readUInt32BE(0) % count]!,
  };
}
