// A finished leg is done once the Redis replicas have it (REDIS_MIN_REPLICAS_ACK, lib/replication.ts).
// A WAIT that fails (the connection lost: perhaps a failover) makes the end run again on the master the
// client reconnects to, where the leg is either finished (it was replicated: a duplicate, nothing more)
// or still there (it was not: finished again, not lost). Fewer acks than asked: the row stays spooled on
// the master, the leg is counted, one warning per episode.
import { storeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { createOutage } from '../outage.js';
import type { PipelinedRedis } from '../redis.js';
import { createReplicaAck } from '../replication.js';
import type { CallState } from './correlate.js';

export interface LegConfirmation {
  /** Resolves once the leg's end is safe from a failover, or counted as not; rejects (a store outage) to have it redone. */
  confirm(callId: string): Promise<void>;
  setReplicas(n: number): void;
}

export function createLegConfirmation(d: { conn: PipelinedRedis; calls: CallState; metrics: Metrics; log: Logger; timeoutMs: number }): LegConfirmation {
  const acks = createReplicaAck(d.conn, { replicas: 0, timeoutMs: d.timeoutMs });
  const outage = createOutage(d.log, {
    level: 'warn',
    lost: 'Redis replicas did not confirm finished CDR legs within REDIS_WAIT_TIMEOUT_MS; they are spooled on the master only until they do (sip_sidecar_cdr_replica_ack_missing_total)',
    restored: 'Redis replicas confirm finished CDR legs again',
  });
  return {
    setReplicas: (n) => acks.setReplicas(n),
    async confirm(callId) {
      let ok: boolean;
      try {
        ok = await acks.confirm(d.calls.keyOfLeg(callId));
      } catch (err) {
        throw storeError('redis', err);
      }
      if (ok) outage.recover();
      else {
        d.metrics.cdrReplicaAckMissing.inc();
        outage.fail(`fewer than ${acks.replicas} replicas acknowledged`);
      }
    },
  };
}
