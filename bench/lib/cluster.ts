// The cluster layout of the register, cdr and bindings sections: a private Redis Cluster (three masters,
// three replicas, test/helpers/redis-servers.ts) for the length of one measurement, stopped by PID
// afterwards whatever happened.
import { startCluster, type Cluster } from '../../test/helpers/redis-servers.js';
import { log } from './common.js';

export async function withCluster<T>(f: (c: Cluster) => Promise<T>): Promise<T> {
  const t0 = Date.now();
  const cluster = await startCluster();
  log(`cluster: 6 nodes up in ${((Date.now() - t0) / 1000).toFixed(1)} s (${cluster.seedList})`);
  try {
    return await f(cluster);
  } finally {
    await cluster.stop();
  }
}

/** The cluster's redis-server pids, for CPU accounting. */
export const clusterPids = (c: Cluster): number[] => c.nodes.map((n) => n.pid).filter((p): p is number => p !== undefined);

/** The daemon's environment on the cluster: seed nodes; REDIS_MIN_REPLICAS_ACK left at its default (1 with replicas). */
export const clusterEnv = (c: Cluster): Record<string, string> => ({ REDIS_CLUSTER_NODES: c.seedList });
