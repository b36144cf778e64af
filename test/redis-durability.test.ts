// What the daemon reports of its Redis server's durability, read from real servers: a bare one (no AOF, no
// replica: a warning), one with AOF everysec and a replica (info).
import t from 'tap';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { createLogger } from '../lib/log.js';
import { createMetrics } from '../lib/metrics.js';
import { readDurability, reportDurability } from '../lib/redis-durability.js';
import { startRedis, cli } from './helpers/redis-servers.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: 'info', hashKey: 'k' }, new Writable({ write(c: Buffer, _e, cb) { lines.push(JSON.parse(c.toString())); cb(); } }));
  return { lines, log };
}

t.test('a server without AOF or replica: a warning, and the gauges say so', async (t) => {
  const bare = await startRedis();
  const redis = new Redis(bare.port, '127.0.0.1');
  t.teardown(async () => { redis.disconnect(); await bare.stop(); });
  const { lines, log } = capture();
  const metrics = createMetrics('test');
  t.same(await reportDurability(redis, metrics, log), { aof: false, fsync: 'everysec', rdb: false, replicas: 0 });
  t.equal((await metrics.redisAof.get()).values[0]!.value, 0);
  t.equal(lines[0]!.level, 'warn');
  t.match(lines[0]!.msg as string, /loses rows not yet in MySQL/);
});

t.test('AOF everysec and a replica: reported as such', async (t) => {
  const master = await startRedis(['appendonly yes', 'appendfsync everysec']);
  const replica = await startRedis([`replicaof 127.0.0.1 ${master.port}`]);
  const redis = new Redis(master.port, '127.0.0.1');
  t.teardown(async () => { redis.disconnect(); await replica.stop(); await master.stop(); });
  for (let i = 0; i < 100 && !(await cli(master.port, 'INFO', 'replication')).includes('connected_slaves:1'); i++) await new Promise((r) => setTimeout(r, 100));
  const metrics = createMetrics('test');
  const { lines, log } = capture();
  t.same(await readDurability(redis), { aof: true, fsync: 'everysec', rdb: false, replicas: 1 });
  await reportDurability(redis, metrics, log);
  t.equal((await metrics.redisReplicas.get()).values[0]!.value, 1);
  t.equal(lines[0]!.level, 'info');
});
