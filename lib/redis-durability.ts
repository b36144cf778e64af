// What the Redis server the daemon got offers to keep owed data (the CDR spool, call state) through a crash or
// a failover: AOF and its fsync policy, RDB snapshots, replicas. Reported once at start and as gauges, so an
// operator sees a spool on a server that would lose it.
import type { Redis } from 'ioredis';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';

export interface Durability {
  aof: boolean;
  /** appendfsync, or null where CONFIG is not allowed (managed Redis often renames it). */
  fsync: string | null;
  /** RDB snapshots configured (`save` not empty); null where CONFIG is not allowed. */
  rdb: boolean | null;
  replicas: number;
}

const field = (info: string, name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();

export async function readDurability(redis: Redis): Promise<Durability> {
  const persistence = await redis.info('persistence');
  const replication = await redis.info('replication');
  // CONFIG may be disabled or renamed: the value is then unknown, and the log line says so.
  const configGet = (name: string) => redis.config('GET', name).then((r) => String((r as string[])[1] ?? ''), () => null);
  const save = await configGet('save');
  return {
    aof: field(persistence, 'aof_enabled') === '1',
    fsync: await configGet('appendfsync'),
    rdb: save === null ? null : save !== '',
    replicas: Number(field(replication, 'connected_slaves') ?? 0),
  };
}

/** Logs what the server offers (a warning when neither AOF nor a replica protects the spool) and sets the gauges. */
export async function reportDurability(redis: Redis, metrics: Metrics, log: Logger): Promise<Durability> {
  const d = await readDurability(redis);
  metrics.redisAof.set(d.aof ? 1 : 0);
  metrics.redisReplicas.set(d.replicas);
  const facts = { aof: d.aof, appendfsync: d.fsync ?? 'unknown', rdb: d.rdb ?? 'unknown', replicas: d.replicas };
  if (!d.aof && d.replicas === 0) {
    log.warn(facts, 'Redis keeps the CDR spool and call state in memory only (no AOF, no replica): a Redis crash loses rows not yet in MySQL');
  } else {
    log.info(facts, 'Redis durability for the CDR spool and call state');
  }
  return d;
}
