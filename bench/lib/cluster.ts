// The cluster layout of the register, cdr and bindings sections: a private Redis Cluster (three masters,
// three replicas, test/helpers/redis-servers.ts) for the length of one measurement, stopped by PID
// afterwards whatever happened.
import { DrachtioPeer } from '../../test/peer/drachtio-peer.js';
import { startCluster, type Cluster } from '../../test/helpers/redis-servers.js';
import { log } from './common.js';
import { startDaemon, type Child, type DaemonOptions } from './procs.js';

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
const clusterPids = (c: Cluster): number[] => c.nodes.map((n) => n.pid).filter((p): p is number => p !== undefined);

/**
 * A daemon of its own on a private cluster (seed nodes only: REDIS_MIN_REPLICAS_ACK at its default, 1 with
 * replicas), behind a drachtio peer of its own that has seen `routes`; `f` gets the pids to account CPU to.
 */
export function withClusterDaemon<T>(
  o: Omit<DaemonOptions, 'peerPort' | 'env'>, routes: string[],
  f: (peer: DrachtioPeer, daemon: Child, pids: { cluster: number[] }) => Promise<T>,
): Promise<T> {
  return withCluster(async (cluster) => {
    const peer = await DrachtioPeer.listen({ requestTimeoutMs: 10_000 });
    try {
      const daemon = await startDaemon({ ...o, peerPort: peer.port, env: { REDIS_CLUSTER_NODES: cluster.seedList } });
      try {
        await peer.waitForRoutes(routes, { timeoutMs: 30_000 });
        return await f(peer, daemon, { cluster: clusterPids(cluster) });
      } finally {
        await daemon.stop();
      }
    } finally {
      await peer.close();
    }
  });
}
