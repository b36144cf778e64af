// Private Redis topologies for tests and benchmarks, from Debian's redis-server on free loopback ports:
// one server to kill, a Sentinel set (a master, a replica, three sentinels) and a Redis Cluster (three
// masters, three replicas). Each process has its own folder and is stopped by PID; nothing touches the
// shared Redis on 6379.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';

const exec = promisify(execFile);

export interface RedisProcess {
  readonly port: number;
  readonly pid: number | undefined;
  readonly alive: boolean;
  /** SIGKILL: a crash, no chance to persist or hand over. */
  kill(): Promise<void>;
  /** SIGTERM, then SIGKILL after 3 s. */
  stop(): Promise<void>;
}

/** `redis-cli -p port args…`, its stdout; throws with stderr on failure. */
export async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await exec('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 20_000 });
  return stdout.trim();
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One redis-server with `lines` as its config (appended to a loopback-only base), in a folder of its own. */
export async function startRedis(lines: string[] = [], o: { sentinel?: boolean } = {}): Promise<RedisProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'redis-'));
  const port = await freePort();
  const conf = join(dir, 'redis.conf');
  await writeFile(conf, [`port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, 'save ""', 'appendonly no', 'protected-mode no', ...lines].join('\n') + '\n');
  const child: ChildProcess = spawn('redis-server', o.sentinel ? [conf, '--sentinel'] : [conf], { stdio: 'ignore' });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const alive = () => child.exitCode === null && child.signalCode === null;
  const signal = async (sig: NodeJS.Signals, graceMs: number) => {
    if (!alive()) return;
    child.kill(sig);
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(t);
  };
  await until(`redis-server on port ${port}`, async () => alive() && (await cli(port, 'PING')) === 'PONG');
  return {
    port,
    get pid() { return child.pid; },
    get alive() { return alive(); },
    kill: () => signal('SIGKILL', 0),
    async stop() {
      await signal('SIGTERM', 3000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface SentinelSet {
  readonly masterName: string;
  readonly master: RedisProcess;
  readonly replica: RedisProcess;
  readonly sentinels: RedisProcess[];
  /** host:port,… of the sentinels, as REDIS_SENTINELS takes them. */
  readonly sentinelList: string;
  /** The address the sentinels now give for the master. */
  currentMaster(): Promise<number>;
  stop(): Promise<void>;
}

/** A master, one replica and three sentinels that fail over within about 2 s of the master's death. */
export async function startSentinelSet(masterName = 'mymaster'): Promise<SentinelSet> {
  const master = await startRedis();
  const replica = await startRedis([`replicaof 127.0.0.1 ${master.port}`]);
  await until('the replica to sync', async () => (await cli(replica.port, 'INFO', 'replication')).includes('master_link_status:up'));
  const sentinels: RedisProcess[] = [];
  for (let i = 0; i < 3; i++) {
    sentinels.push(await startRedis([
      `sentinel monitor ${masterName} 127.0.0.1 ${master.port} 2`,
      `sentinel down-after-milliseconds ${masterName} 1000`,
      `sentinel failover-timeout ${masterName} 5000`,
      `sentinel parallel-syncs ${masterName} 1`,
    ], { sentinel: true }));
  }
  const currentMaster = async () => Number((await cli(sentinels[0]!.port, 'SENTINEL', 'get-master-addr-by-name', masterName)).split('\n')[1]);
  await until('the sentinels to see the replica and each other', async () => {
    const info = await cli(sentinels[0]!.port, 'INFO', 'sentinel');
    return new RegExp(`name=${masterName},status=ok,address=127\\.0\\.0\\.1:${master.port},slaves=1,sentinels=3`).test(info);
  }, 20_000);
  return {
    masterName, master, replica, sentinels, currentMaster,
    sentinelList: sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
    async stop() {
      for (const p of [...sentinels, replica, master]) await p.stop();
    },
  };
}

export interface Cluster {
  readonly nodes: RedisProcess[];
  /** host:port,… of every node, as REDIS_CLUSTER_NODES takes them. */
  readonly seedList: string;
  /** The node serving `slot` as master now. */
  masterOf(slot: number): Promise<RedisProcess>;
  stop(): Promise<void>;
}

/** Three masters and three replicas (`redis-cli --cluster create … --cluster-replicas 1`). */
export async function startCluster(): Promise<Cluster> {
  const nodes: RedisProcess[] = [];
  try {
    for (let i = 0; i < 6; i++) {
      nodes.push(await startRedis(['cluster-enabled yes', 'cluster-config-file nodes.conf', 'cluster-node-timeout 1000', 'cluster-require-full-coverage no']));
    }
    await exec('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '1', '--cluster-yes'], { timeout: 60_000 });
    await until('the cluster to be ok on every node', async () => {
      for (const n of nodes) if (!(await cli(n.port, 'CLUSTER', 'INFO')).includes('cluster_state:ok')) return false;
      return true;
    }, 30_000);
  } catch (err) {
    // The caller gets no handle to stop a half-built cluster with: stop what was started here.
    for (const n of nodes) await n.stop();
    throw err;
  }
  return {
    nodes,
    seedList: nodes.map((n) => `127.0.0.1:${n.port}`).join(','),
    async masterOf(slot) {
      const live = nodes.find((n) => n.alive)!;
      const client = new Redis(live.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 1 });
      try {
        await client.connect();
        const slots = (await client.call('CLUSTER', 'SLOTS')) as [number, number, [string, number, string]][];
        const range = slots.find(([from, to]) => slot >= from && slot <= to);
        if (!range) throw new Error(`no master serves slot ${slot}`);
        return nodes.find((n) => n.port === range[2][1])!;
      } finally {
        client.disconnect();
      }
    },
    async stop() {
      for (const n of nodes) await n.stop();
    },
  };
}
