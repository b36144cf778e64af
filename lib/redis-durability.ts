// What the Redis server the daemon got offers to keep owed data (the CDR spool, call state) through a crash or
// a failover: AOF and its fsync policy, RDB snapshots, replicas. Reported once at start and as gauges, so an
// operator sees a spool on a server that would lose it.
import { mastersOf, type RedisClient } from './redis.js';
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

/** On a cluster, the weakest master's: owed data is as safe as on the least protected master. */
export async function readDurability(redis: RedisClient): Promise<Durability> {
  const each = await Promise.all(mastersOf(redis).map(readOne));
  return each.reduce((a, b) => ({
    aof: a.aof && b.aof, fsync: a.fsync === b.fsync ? a.fsync : a.fsync ?? b.fsync,
    rdb: a.rdb === null || b.rdb === null ? null : a.rdb && b.rdb, replicas: Math.min(a.replicas, b.replicas),
  }));
}

async function readOne(redis: RedisClient): Promise<Durability> {
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
export async function reportDurability(redis: RedisClient, metrics: Metrics, log: Logger): Promise<Durability> {
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
