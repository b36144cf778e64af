// Assembles the admin API: scoped-token authentication with its failure guard, every route, and
// the access log. Built only when at least one admin token is configured.
import type { Config } from '../../config/index.js';
import type { Pool } from '../db/pool.js';
import type { Hasher, Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Holds } from '../privacy/holds.js';
import type { Restrictions } from '../privacy/restrictions.js';
import type { PrivacyService } from '../privacy/service.js';
import { createAuthGuard } from '../register/guard.js';
import type { AccessLog } from './access-log.js';
import { createAdminRoute } from './admin.js';
import { accountRoutes } from './admin-routes.js';
import { createAdminAuth } from './auth.js';
import { accessLogRoutes, holdRoutes, restrictionRoutes } from './privacy-routes.js';
import type { Route } from './server.js';
import type { RedisClient } from '../redis.js';

export const ADMIN_AUTH_FAIL_WINDOW_SECONDS = 60;

export function createAdminApi(d: {
  config: Config['admin']; redis: RedisClient; prefix: string; guardSecret: string; pool: Pool;
  /** ADMIN_REQUEST_TIMEOUT_MS */
  deadlineMs: number;
  service: PrivacyService; holds: Holds; restrictions: Restrictions; accessLog: AccessLog;
  hash: Hasher; log: Logger; metrics: Metrics; now?: () => number;
}): Route {
  // The REGISTER flow's guard over keys of its own: {p}admin-authfail:{hash}, {p}admin-block:{hash}.
  const guard = createAuthGuard(d.redis, {
    prefix: `${d.prefix}admin-`, secret: d.guardSecret, limit: d.config.authFailLimit,
    windowSeconds: ADMIN_AUTH_FAIL_WINDOW_SECONDS, blockSeconds: d.config.authBlockSeconds,
  });
  return createAdminRoute({
    auth: createAdminAuth({ tokens: d.config.tokens, guard, metrics: d.metrics, log: d.log }),
    routes: [
      ...accountRoutes({ service: d.service, holds: d.holds, now: d.now }),
      ...holdRoutes({ pool: d.pool, service: d.service, holds: d.holds, now: d.now }),
      ...restrictionRoutes({ restrictions: d.restrictions }),
      ...accessLogRoutes({ accessLog: d.accessLog, now: d.now }),
    ],
    accessLog: d.accessLog, hash: d.hash, log: d.log, metrics: d.metrics, now: d.now, deadlineMs: d.deadlineMs,
  });
}
