// createSidecar: the one place that knows every part. It wires the flows to the stores
// it is given and owns start-up and staged shutdown.
import type { Redis } from 'ioredis';
import type { Config } from '../config/index.js';
import { createCallRecorder } from './calls/recorder.js';
import type { Pool } from './db/pool.js';
import { connectInbound, listenOutbound, type SrfInstance } from './drachtio.js';
import { ShutdownTimeoutError } from './errors.js';
import { withTimeout } from './timeout.js';
import { createHealth } from './health.js';
import { createAccessLog } from './http/access-log.js';
import { createAdminApi } from './http/admin-api.js';
import { createHttpServer, type Route } from './http/server.js';
import { isLoopback } from './http/tls.js';
import { createHasher, type Logger } from './log.js';
import type { Metrics } from './metrics.js';
import { createAuthenticator } from './register/authenticate.js';
import { createBindingStore } from './register/bindings.js';
import { createCredentialStore } from './register/credentials.js';
import { createAuthGuard } from './register/guard.js';
import { createRegisterHandler } from './register/handler.js';
import { createNonceService } from './register/nonce.js';
import type { InboundRequest } from './register/parse.js';
import { createLifecycle } from './privacy/lifecycle.js';
import { createRestrictionList } from './privacy/restrictions.js';
import { reportDurability } from './redis-durability.js';
import { createStopper, prepareMysql, waitForRedis } from './startup.js';
import { randomBytes } from 'node:crypto';

export interface SidecarDeps {
  config: Config;
  log: Logger;
  redis: Redis;
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

type Srf = SrfInstance & { use(verb: string, fn: (req: any, res: any) => void): void; endSession(req: unknown): void };

export function createSidecar(d: SidecarDeps): Sidecar {
  const { config, log, redis, pool, metrics } = d;
  const now = d.now ?? Date.now;
  if (d.srfs.length !== config.drachtio.servers.length) {
    throw new Error(`createSidecar: ${d.srfs.length} Srf instances for ${config.drachtio.servers.length} drachtio-servers`);
  }
  const health = createHealth(metrics, config.drachtio.servers.length);
  const stopper = createStopper();
  const hash = createHasher(config.log.hashKey);
  const nonceSecret = config.register.nonceSecret || randomBytes(32).toString('hex');
  if (!config.register.nonceSecret) log.warn('NONCE_SECRET is not set: nonces from this process are valid only here; set it when running several instances');

  const bindings = createBindingStore(redis, config.redis.keyPrefix);
  const credentials = createCredentialStore(pool, config.register.credentialCacheMs, now);
  const restrictionList = createRestrictionList({ pool, hashKey: config.privacy.hashKey, log });
  const recorder = createCallRecorder({
    config: config.cdr, prefix: config.redis.keyPrefix, redis, pool, metrics, log, hash, now, restrictions: restrictionList,
  });
  const lifecycle = createLifecycle({
    config, redis, pool, bindings, recorder, restrictionList, metrics, log, hash, now,
    onAccountChange: (sid) => {
      recorder.accounts.invalidate(sid);
      credentials.forget();
    },
  });
  let accepting = true;
  let inflight = 0;
  const idleWaiters: (() => void)[] = [];
  const onRegister = createRegisterHandler({
    config: config.register,
    bindings,
    auth: createAuthenticator({
      credentials,
      algorithms: config.register.algorithms,
      nonces: createNonceService({ secret: nonceSecret, lifetimeSeconds: config.register.nonceLifetimeSeconds, now }),
      now,
    }),
    guard: createAuthGuard(redis, {
      prefix: config.redis.keyPrefix, secret: nonceSecret, limit: config.register.authFailLimit,
      windowSeconds: config.register.authFailWindowSeconds, blockSeconds: config.register.authBlockSeconds,
    }),
    metrics, log, hash, now,
    accepting: () => accepting,
  });
  const track = (srf: Srf, endSession: boolean) => (req: InboundRequest, res: any) => {
    inflight++;
    onRegister(req, res).finally(() => {
      if (endSession) srf.endSession(req);
      if (--inflight === 0) idleWaiters.splice(0).forEach((w) => w());
    });
  };

  let refreshing: Promise<void> | null = null;
  // Scrapes and the timer share one refresh at a time: a slow store must not pile them up.
  const refreshGauges = () => {
    refreshing ??= refreshOnce().finally(() => { refreshing = null; });
    return refreshing;
  };
  const refreshOnce = async () => {
    if (redis.status !== 'ready') return;
    const t = now();
    await bindings.prune(t);
    metrics.bindingsActive.set(await bindings.countActive(t));
    await recorder.refreshGauges();
    if (health.isUp('mysql')) await lifecycle.measure();
  };
  const routes: Route[] = [];
  const accessLog = config.admin.tokens.length ? createAccessLog({ pool, log, metrics }) : null;
  const adminRoute = accessLog && createAdminApi({
    config: config.admin, redis, prefix: config.redis.keyPrefix, guardSecret: nonceSecret, pool,
    service: lifecycle.service, holds: lifecycle.holds, restrictions: lifecycle.restrictions, accessLog, hash, log, metrics, now,
  });
  const http = createHttpServer({
    health, metrics, log, beforeScrape: refreshGauges, routes, tls: config.http.tls, metricsToken: config.http.metricsToken,
  });
  redis.on('ready', () => health.set('redis', true));
  redis.on('close', () => health.set('redis', false));
  redis.on('end', () => health.set('redis', false));

  const inbound: ReturnType<typeof connectInbound>[] = [];
  let outbound: Awaited<ReturnType<typeof listenOutbound>> | null = null;
  const timers: NodeJS.Timeout[] = [];
  let httpPort = 0;
  let closing: Promise<void> | null = null;

  const pingMysql = () => {
    pool.query('SELECT 1').then(
      () => health.set('mysql', true),
      (err: Error) => {
        if (health.isUp('mysql')) log.error({ err: err.message }, 'MySQL unreachable (MYSQL_URL)');
        health.set('mysql', false);
      },
    );
  };

  return {
    get httpPort() { return httpPort; },
    get listenPort() { return outbound?.port ?? null; },

    async start() {
      httpPort = await http.listen(config.http.host, config.http.port);
      log.info({ port: httpPort, tls: http.tls }, `HTTP server listening (${http.tls ? 'HTTPS; ' : ''}/healthz, /readyz, /metrics)`);
      if (!http.tls && config.admin.tokens.length && !isLoopback(config.http.host)) {
        log.warn({ host: config.http.host }, 'the admin API is reachable beyond this machine over plain HTTP: its bearer tokens and the data it returns travel unencrypted; set HTTPS_CERT_FILE and HTTPS_KEY_FILE');
      }
      await waitForRedis(redis, stopper);
      if (stopper.stopped) return;
      health.set('redis', redis.status === 'ready');
      await reportDurability(redis, metrics, log).catch((err: Error) => log.warn({ err: err.message }, 'could not read Redis persistence settings'));
      await prepareMysql(config.mysql, pool, log, stopper);
      if (stopper.stopped) return;
      health.set('mysql', true);
      await lifecycle.start();
      if (stopper.stopped) return;
      if (adminRoute) routes.push(adminRoute);
      timers.push(setInterval(pingMysql, 5000).unref());
      timers.push(setInterval(() => {
        refreshGauges().catch((err: Error) => log.warn({ err: err.message }, 'binding index prune failed'));
      }, 15_000).unref());

      // Every handler is registered before connecting: a route added later is sent
      // again and drachtio-server would count it twice in its round-robin.
      for (const srf of d.srfs as Srf[]) {
        srf.use('register', track(srf, false));
        recorder.subscribe(srf);
      }
      recorder.start();
      config.drachtio.servers.forEach((server, i) => {
        inbound.push(connectInbound(d.srfs[i]!, { ...server, server: i }, config.drachtio, log, (up) => health.setDrachtio(i, up)));
      });
      if (d.srfListener) {
        const out = d.srfListener as Srf;
        out.use('register', track(out, true));
        outbound = await listenOutbound(out, config.drachtio, log);
      }
    },

    close() {
      closing ??= shutdown();
      return closing;
    },

    reloadTls: () => http.reloadTls(),
  };

  async function shutdown(): Promise<void> {
    const total = config.shutdownTimeoutMs;
    const deadline = Date.now() + total;
    // Each stage waits at most its share, so one stuck stage cannot starve the next ones.
    const within = async (stage: string, work: Promise<unknown>, share = 1) => {
      const ms = Math.min(deadline - Date.now(), total * share);
      try {
        await withTimeout(work, ms, () => new ShutdownTimeoutError(stage, total));
      } catch (err) {
        log.error({ stage, err: (err as Error).message }, 'shutdown stage failed; continuing');
      }
    };
    log.info('shutting down: refusing new work');
    accepting = false;
    http.drain();
    stopper.stop();
    for (const t of timers) clearInterval(t);
    await within('finish in-flight REGISTERs', inflight === 0 ? Promise.resolve() : new Promise<void>((r) => idleWaiters.push(r)), 0.25);
    for (const c of inbound) c.disconnect();
    // No new CDR events once drachtio is gone: write what is pending, then stop the writer.
    await within('flush CDRs', recorder.flush(), 0.5);
    await within('stop CDR recorder', recorder.close());
    await within('stop lifecycle timers', lifecycle.close());
    if (outbound) await within('close outbound listener', outbound.close());
    await within('close HTTP server', http.close());
    // After the server: the last admin requests have their entries too.
    if (accessLog) await within('write the admin access log', accessLog.close());
    // quit() waits for a reply a dead Redis will never send; disconnect() does not.
    if (redis.status === 'ready') await within('close Redis', redis.quit());
    else redis.disconnect();
    await within('close MySQL pool', pool.end());
    log.info('shutdown complete');
  }
}
