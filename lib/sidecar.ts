// createSidecar: the one place that knows every part. It wires each flow to the stores it needs,
// over the connections it is given, and runs start-up and the staged shutdown; nothing else.
import { randomBytes } from 'node:crypto';
import type { Config } from '../config/index.js';
import { createCallState } from './calls/correlate.js';
import { createAccountResolver } from './calls/account-resolver.js';
import { createCallRecorder } from './calls/recorder.js';
import { createSpool } from './calls/spool.js';
import type { Pool } from './db/pool.js';
import { connectInbound, listenOutbound, type SrfInstance } from './drachtio.js';
import { createGauges } from './gauges.js';
import { createHealth, watchMysql, watchRedis } from './health.js';
import { createAccessLog } from './http/access-log.js';
import { createAdminApi } from './http/admin-api.js';
import { createLocationRoute } from './http/location.js';
import { createHttpServer, type Route } from './http/server.js';
import { migrateKeyLayout } from './key-migration.js';
import { isLoopback } from './http/tls.js';
import { createLocationService } from './location/service.js';
import { createHasher, type Logger } from './log.js';
import type { Metrics } from './metrics.js';
import { createLifecycle } from './privacy/lifecycle.js';
import { createRestrictionList } from './privacy/restrictions.js';
import type { RedisConnections } from './redis.js';
import { createAuthenticator } from './register/authenticate.js';
import { createBindingStore } from './register/bindings.js';
import { createCredentialStore } from './register/credentials.js';
import { createAuthGuard } from './register/guard.js';
import { createRegisterHandler } from './register/handler.js';
import { createHookClient } from './register/hook.js';
import { createNonceService } from './register/nonce.js';
import type { InboundRequest } from './register/parse.js';
import { createRealmStore } from './register/realms.js';
import { reportDurability } from './redis-durability.js';
import { createShutdown } from './shutdown.js';
import { createStopper, prepareMysql, waitForRedis } from './startup.js';

export interface SidecarDeps {
  config: Config;
  log: Logger;
  redis: RedisConnections;
  pool: Pool;
  metrics: Metrics;
  /** One per entry of config.drachtio.servers, each connecting to that drachtio-server (inbound mode). */
  srfs: SrfInstance[];
  /** Accepts drachtio-server's outbound connections; only when DRACHTIO_LISTEN_PORT is set. */
  srfListener?: SrfInstance;
  now?: () => number;
}

export interface Sidecar {
  start(): Promise<void>;
  close(): Promise<void>;
  /** Reads the HTTPS certificate and key again (SIGHUP); false when they did not load. */
  reloadTls(): Promise<boolean>;
  readonly httpPort: number;
  readonly listenPort: number | null;
}

const LOCATION_ACCOUNT_CACHE_MS = 60_000;

type Srf = SrfInstance & { use(verb: string, fn: (req: any, res: any) => void): void; endSession(req: unknown): void };

export function createSidecar(d: SidecarDeps): Sidecar {
  const { config, log, redis, pool, metrics } = d;
  const now = d.now ?? Date.now;
  if (d.srfs.length !== config.drachtio.servers.length) {
    throw new Error(`createSidecar: ${d.srfs.length} Srf instances for ${config.drachtio.servers.length} drachtio-servers`);
  }
  const prefix = config.redis.keyPrefix;
  const health = createHealth(metrics, config.drachtio.servers.length);
  const stopper = createStopper();
  const hash = createHasher(config.log.hashKey);
  const nonceSecret = config.register.nonceSecret || randomBytes(32).toString('hex');
  if (!config.register.nonceSecret) log.warn('NONCE_SECRET is not set: nonces from this process are valid only here; set it when running several instances');

  // REGISTER: the main connection.
  const bindings = createBindingStore(redis.main, prefix);
  const credentials = createCredentialStore(pool, config.register.credentialCacheMs, now);
  const realms = createRealmStore(pool, config.register.credentialCacheMs, now);
  // Which account owns a domain changes with an account, not with a password: a lookup should not
  // cost a query. Dropped at once on an account change, like every cache here.
  const lookupRealms = createRealmStore(pool, LOCATION_ACCOUNT_CACHE_MS, now);
  const onRegister = createRegisterHandler({
    config: config.register,
    bindings,
    auth: createAuthenticator({
      credentials, realms,
      hook: createHookClient({ timeoutMs: config.register.hookTimeoutMs, blockSeconds: config.register.authBlockSeconds, metrics, now }),
      algorithms: config.register.algorithms,
      nonces: createNonceService({ secret: nonceSecret, lifetimeSeconds: config.register.nonceLifetimeSeconds, now }),
      now,
    }),
    guard: createAuthGuard(redis.main, {
      prefix, secret: nonceSecret, limit: config.register.authFailLimit,
      windowSeconds: config.register.authFailWindowSeconds, blockSeconds: config.register.authBlockSeconds,
    }),
    metrics, log, hash, now,
  });

  // Call events: the cdr connection (its gauges read over the main one).
  // Restricted numbers: checked when a leg ends and by the writer; kept current by the lifecycle.
  const restrictionList = createRestrictionList({ pool, hashKey: config.privacy.hashKey, log });
  const recorder = createCallRecorder({
    config: config.cdr, prefix, redis: redis.cdr, gaugeRedis: redis.main, pool, metrics, log, hash, now, restrictions: restrictionList,
    waitTimeoutMs: config.redis.waitTimeoutMs,
  });

  // Privacy rights and the audit: the privacy connection, stores of their own.
  const calls = createCallState(redis.privacy, prefix, config.cdr.callStateTtlSeconds);
  const spool = createSpool(redis.privacy, prefix, config.cdr.spoolMax);
  const lifecycleBindings = createBindingStore(redis.privacy, prefix);
  const lifecycle = createLifecycle({
    config: config.privacy, prefix, redis: redis.privacy, subscriber: redis.subscriber, pool, metrics, log, hash, now, restrictionList,
    stores: {
      bindings: lifecycleBindings,
      calls, spool,
      accounts: createAccountResolver(pool, { cacheMs: 0, now }),
      isCallDataKey: (k) => calls.isLegKey(k) || spool.isSpoolKey(k),
    },
    onAccountChange: (sid) => {
      recorder.forgetAccount(sid);
      credentials.forget();
      realms.forget();
      lookupRealms.forget();
    },
  });

  const gauges = createGauges({
    bindings: async () => {
      if (redis.main.status !== 'ready') return;
      const t = now();
      await bindings.prune(t);
      metrics.bindingsActive.set(await bindings.countActive(t));
      metrics.bindingsBehindNat.set(await bindings.countBehindNat(t));
    },
    calls: () => (redis.main.status === 'ready' ? recorder.refreshGauges() : Promise.resolve()),
    retention: () => (health.isUp('mysql') ? lifecycle.measure() : Promise.resolve()),
  }, log);
  // Location lookups: the main connection, like the REGISTERs whose bindings they read.
  const routes: Route[] = [createLocationRoute({
    token: config.location.token, metrics, log,
    service: createLocationService({ bindings, accountOf: async (domain) => (await lookupRealms.find(domain))?.accountSid ?? null, now }),
  })];
  // After the location route (the admin API claims every other /v1/ path), on the privacy connection;
  // every request recorded in the access log.
  const accessLog = config.admin.tokens.length ? createAccessLog({ pool, log, metrics }) : null;
  if (accessLog) {
    routes.push(createAdminApi({
      config: config.admin, redis: redis.privacy, prefix, guardSecret: nonceSecret, pool, deadlineMs: config.privacy.adminRequestTimeoutMs,
      service: lifecycle.service, holds: lifecycle.holds, restrictions: lifecycle.restrictions, accessLog, hash, log, metrics, now,
    }));
  }
  const http = createHttpServer({
    health, metrics, log, beforeScrape: gauges.refresh, routes, tls: config.http.tls, metricsToken: config.http.metricsToken,
  });
  watchRedis(redis.main, health);

  const registerOn = (srf: Srf, endSession: boolean) => srf.use('register', (req: InboundRequest, res: any) => {
    void onRegister(req, res).finally(() => { if (endSession) srf.endSession(req); });
  });
  const inbound: ReturnType<typeof connectInbound>[] = [];
  let outbound: Awaited<ReturnType<typeof listenOutbound>> | null = null;
  let stopMysqlWatch = () => {};
  let httpPort = 0;

  const shutdown = createShutdown(config.shutdownTimeoutMs, log, [
    // While other instances can take REGISTERs and CDR events, drachtio-server should send them there.
    ['hand routes back to drachtio-server', () => Promise.all(inbound.map((c) => c.stopRouting())), 0.1],
    ['refuse new work', () => { onRegister.stopAccepting(); http.drain(); stopper.stop(); gauges.stop(); stopMysqlWatch(); }],
    ['finish in-flight REGISTERs', () => onRegister.idle(), 0.25],
    // No new CDR events once drachtio is gone: write what is pending, then stop the writer.
    ['disconnect from drachtio-server', () => { for (const c of inbound) c.disconnect(); }],
    ['flush CDRs', () => recorder.flush(), 0.5],
    ['stop CDR recorder', () => recorder.close()],
    ['stop lifecycle timers', () => lifecycle.close()],
    ['close outbound listener', () => outbound?.close()],
    ['close HTTP server', () => http.close()],
    // After the server: the last admin requests have their entries too.
    ['write the admin access log', () => accessLog?.close()],
    ['close Redis', () => redis.close()],
    ['close MySQL pool', () => pool.end()],
  ]);

  return {
    get httpPort() { return httpPort; },
    get listenPort() { return outbound?.port ?? null; },

    async start() {
      httpPort = await http.listen(config.http.host, config.http.port);
      log.info({ port: httpPort, tls: http.tls }, `HTTP server listening (${http.tls ? 'HTTPS; ' : ''}/healthz, /readyz, /metrics)`);
      if (!http.tls && config.admin.tokens.length && !isLoopback(config.http.host)) {
        log.warn({ host: config.http.host }, 'the admin API is reachable beyond this machine over plain HTTP: its bearer tokens and the data it returns travel unencrypted; set HTTPS_CERT_FILE and HTTPS_KEY_FILE');
      }
      redis.connect();
      for (const c of [redis.main, redis.cdr, redis.privacy, redis.subscriber]) await waitForRedis(c, stopper);
      if (stopper.stopped) return;
      const durability = await reportDurability(redis.main, metrics, log).catch((err: Error) => {
        log.warn({ err: err.message }, 'could not read Redis persistence settings');
        return null;
      });
      // REDIS_MIN_REPLICAS_ACK, else 1 where the master has replicas (unknown: none asked).
      const acks = config.redis.minReplicasAck ?? ((durability?.replicas ?? 0) > 0 ? 1 : 0);
      recorder.setReplicaAcks(acks);
      log.info({ replicas: acks, timeoutMs: config.redis.waitTimeoutMs }, 'replica acknowledgements asked for each finished CDR leg');
      if (config.redis.topology.kind !== 'cluster') {
        await migrateKeyLayout(redis.privacy, prefix, log, [
          ['bindings', () => lifecycleBindings.migrateLegacy()], ['calls', () => calls.migrateLegacy()], ['spool', () => spool.migrateLegacy()],
        ]).catch((err: Error) => log.error({ err: err.message }, 'could not move keys of the previous Redis layout; they stay where they are until the next start'));
      }
      await prepareMysql(config.mysql, pool, log, stopper);
      if (stopper.stopped) return;
      stopMysqlWatch = watchMysql(pool, health, log);
      await lifecycle.start();
      if (stopper.stopped) return;
      gauges.every(15_000);

      // Every handler is registered before connecting: a route added later is sent
      // again and drachtio-server would count it twice in its round-robin.
      for (const srf of d.srfs as Srf[]) {
        registerOn(srf, false);
        recorder.subscribe(srf);
      }
      recorder.start();
      config.drachtio.servers.forEach((server, i) => {
        inbound.push(connectInbound(d.srfs[i]!, { ...server, server: i }, config.drachtio, log, (up) => health.setDrachtio(i, up)));
      });
      if (d.srfListener) {
        registerOn(d.srfListener as Srf, true);
        outbound = await listenOutbound(d.srfListener, config.drachtio, log);
      }
    },

    close: shutdown,
    reloadTls: () => http.reloadTls(),
  };
}
