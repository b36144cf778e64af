import t from 'tap';
import { loadConfig, POLICY_MAX_IP_RETENTION_SECONDS } from '../config/index.js';
import { ConfigError } from '../lib/errors.js';

t.test('defaults are the documented ones, and frozen', async (t) => {
  const c = loadConfig({});
  t.match(c, {
    drachtio: { servers: [{ host: '127.0.0.1', port: 9022 }], secret: 'cymru', listenPort: null },
    redis: { url: 'redis://127.0.0.1:6379' },
    mysql: { url: 'mysql://root@127.0.0.1:3306/sip_sidecar', database: 'sip_sidecar' },
    register: { minExpires: 60, defaultExpires: 3600, maxExpires: 3600, algorithms: ['MD5', 'SHA-256'] },
  });
  t.ok(Object.isFrozen(c) && Object.isFrozen(c.register));
});

t.test('every invalid variable is reported in one error', async (t) => {
  const err = t.throws(() => loadConfig({
    DRACHTIO_PORT: '70000', REGISTER_MAX_EXPIRES: '3601', REGISTER_MIN_EXPIRES: 'x', REDIS_URL: 'http://h', DRACHTIO_LISTEN_PORT: '-1',
  })) as unknown as ConfigError;
  t.ok(err instanceof ConfigError);
  t.equal(err.code, 'ERR_CONFIG');
  t.same(err.problems.map((p) => p.split(' ')[0]).sort(),
    ['DRACHTIO_LISTEN_PORT', 'DRACHTIO_PORT', 'REDIS_URL', 'REGISTER_MAX_EXPIRES', 'REGISTER_MIN_EXPIRES']);
  t.match(err.message, /one hour/);
});

t.test('the policy hour is the ceiling, and min may not exceed max', async (t) => {
  t.equal(POLICY_MAX_IP_RETENTION_SECONDS, 3600);
  t.equal(loadConfig({ REGISTER_MAX_EXPIRES: '3600' }).register.maxExpires, 3600);
  t.throws(() => loadConfig({ REGISTER_MIN_EXPIRES: '600', REGISTER_MAX_EXPIRES: '300' }), /REGISTER_MIN_EXPIRES must not exceed/);
  t.throws(() => loadConfig({ AUTH_BLOCK_SECONDS: '7200' }), /AUTH_BLOCK_SECONDS/);
  t.equal(loadConfig({ REGISTER_DEFAULT_EXPIRES: '7200' }).register.defaultExpires, 3600, 'default clamped to max');
});

t.test('REGISTER_DIGEST_ALGORITHMS is an ordered list of distinct known algorithms', async (t) => {
  t.same(loadConfig({ REGISTER_DIGEST_ALGORITHMS: 'SHA-256, MD5' }).register.algorithms, ['SHA-256', 'MD5']);
  t.same(loadConfig({ REGISTER_DIGEST_ALGORITHMS: 'SHA-256' }).register.algorithms, ['SHA-256']);
  t.throws(() => loadConfig({ REGISTER_DIGEST_ALGORITHMS: 'MD5,SHA-512' }), /REGISTER_DIGEST_ALGORITHMS must be a comma-separated list/);
  t.throws(() => loadConfig({ REGISTER_DIGEST_ALGORITHMS: 'MD5,MD5' }), /REGISTER_DIGEST_ALGORITHMS/);
});

t.test('DRACHTIO_SERVERS lists several drachtio-servers; DRACHTIO_HOST/PORT is the one-server shorthand', async (t) => {
  t.same(loadConfig({}).drachtio.servers, [{ host: '127.0.0.1', port: 9022 }]);
  t.same(loadConfig({ DRACHTIO_HOST: 'sbc1', DRACHTIO_PORT: '9023' }).drachtio.servers, [{ host: 'sbc1', port: 9023 }]);
  t.same(loadConfig({ DRACHTIO_SERVERS: 'sbc1:9022, 10.0.0.2:9022,[::1]:9030' }).drachtio.servers,
    [{ host: 'sbc1', port: 9022 }, { host: '10.0.0.2', port: 9022 }, { host: '::1', port: 9030 }]);
  t.throws(() => loadConfig({ DRACHTIO_SERVERS: 'sbc1:9022,sbc2' }), /DRACHTIO_SERVERS must be a comma-separated list of distinct host:port/);
  t.throws(() => loadConfig({ DRACHTIO_SERVERS: 'sbc1:9022,sbc1:9022' }), /DRACHTIO_SERVERS/);
  t.throws(() => loadConfig({ DRACHTIO_SERVERS: 'sbc1:0' }), /DRACHTIO_SERVERS/);
  t.throws(() => loadConfig({ DRACHTIO_SERVERS: 'sbc1:9022', DRACHTIO_PORT: '9022' }), /cannot be combined with DRACHTIO_HOST\/DRACHTIO_PORT/);
});

t.test('Redis: one server by default; REDIS_SENTINELS chooses Sentinel; REDIS_PASSWORD or the URL\'s password', async (t) => {
  t.same(loadConfig({}).redis.topology, { kind: 'single' });
  t.equal(loadConfig({}).redis.password, null);
  t.equal(loadConfig({ REDIS_URL: 'redis://:s%40cret@h:6379/2' }).redis.password, 's@cret');
  t.equal(loadConfig({ REDIS_URL: 'redis://:a@h:6379', REDIS_PASSWORD: 'b' }).redis.password, 'b');
  t.same(loadConfig({ REDIS_SENTINELS: 's1:26379,s2:26379', REDIS_SENTINEL_PASSWORD: 'sp' }).redis.topology, {
    kind: 'sentinel', sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26379 }], masterName: 'mymaster', sentinelPassword: 'sp',
  });
  const err = t.throws(() => loadConfig({ REDIS_SENTINELS: 's1', REDIS_SENTINEL_MASTER_NAME: 'a b' })) as unknown as ConfigError;
  t.same(err.problems.map((p) => p.split(' ')[0]).sort(), ['REDIS_SENTINELS', 'REDIS_SENTINEL_MASTER_NAME'], 'both reported at once');
});

t.test('Redis Cluster: REDIS_CLUSTER_NODES seeds; not with REDIS_SENTINELS; replica acks', async (t) => {
  t.same(loadConfig({ REDIS_CLUSTER_NODES: 'r1:7000,r2:7001' }).redis.topology, {
    kind: 'cluster', nodes: [{ host: 'r1', port: 7000 }, { host: 'r2', port: 7001 }],
  });
  t.equal(loadConfig({}).redis.minReplicasAck, null, 'unset: decided at start from the replicas the server has');
  t.equal(loadConfig({ REDIS_MIN_REPLICAS_ACK: '2' }).redis.minReplicasAck, 2);
  t.equal(loadConfig({}).redis.waitTimeoutMs, 500);
  const err = t.throws(() => loadConfig({
    REDIS_CLUSTER_NODES: 'r1', REDIS_SENTINELS: 's1:26379', REDIS_MIN_REPLICAS_ACK: '-1', REDIS_WAIT_TIMEOUT_MS: 'x',
  })) as unknown as ConfigError;
  t.same(err.problems.map((p) => p.split(' ')[0]).sort(),
    ['REDIS_CLUSTER_NODES', 'REDIS_CLUSTER_NODES', 'REDIS_MIN_REPLICAS_ACK', 'REDIS_WAIT_TIMEOUT_MS'], 'every invalid one reported at once');
  t.throws(() => loadConfig({ REDIS_CLUSTER_NODES: 'r1:7000', REDIS_SENTINELS: 's1:26379' }), /cannot be combined with REDIS_SENTINELS/);
});

t.test('a password in a URL is never echoed', async (t) => {
  const err = t.throws(() => loadConfig({ MYSQL_URL: 'ftp://user:hunter2@host/db' })) as Error;
  t.notMatch(err.message, /hunter2/);
});

t.test('LOCATION_TOKEN: off by default, at least 16 characters, never the admin token', async (t) => {
  t.equal(loadConfig({}).location.token, null);
  t.equal(loadConfig({ LOCATION_TOKEN: 'location-token-0123' }).location.token, 'location-token-0123');
  t.throws(() => loadConfig({ LOCATION_TOKEN: 'short' }), /LOCATION_TOKEN must be at least 16 characters/);
  t.throws(() => loadConfig({ LOCATION_TOKEN: 'same-token-0123456', ADMIN_TOKEN: 'same-token-0123456' }), /LOCATION_TOKEN must differ from every admin token/);
});

t.test('REGISTRATION_HOOK_TIMEOUT_MS: default 2000, within 100–10000 (below a SIP transaction\'s patience)', async (t) => {
  t.equal(loadConfig({}).register.hookTimeoutMs, 2000);
  t.equal(loadConfig({ REGISTRATION_HOOK_TIMEOUT_MS: '750' }).register.hookTimeoutMs, 750);
  t.throws(() => loadConfig({ REGISTRATION_HOOK_TIMEOUT_MS: '50' }), /REGISTRATION_HOOK_TIMEOUT_MS must be a whole number from 100 to 10000/);
  t.throws(() => loadConfig({ REGISTRATION_HOOK_TIMEOUT_MS: '60000' }), /REGISTRATION_HOOK_TIMEOUT_MS/);
});

t.test('ADMIN_TOKENS: name:scope[+scope…]:token entries; ADMIN_TOKEN is the all-scope "default"; problems never echo a token', async (t) => {
  const c = loadConfig({ ADMIN_TOKEN: 'single-token-0123456789', ADMIN_TOKENS: 'reader:read:reader-token-0123456789, ops:erase+hold:ops:token:with:colons' });
  t.same(c.admin.tokens.map((x) => [x.name, x.scopes, x.token]), [
    ['default', ['read', 'erase', 'hold', 'optout'], 'single-token-0123456789'],
    ['reader', ['read'], 'reader-token-0123456789'],
    ['ops', ['erase', 'hold'], 'ops:token:with:colons'],
  ]);
  t.same(loadConfig({}).admin.tokens, [], 'no token: no admin API');
  t.ok(Object.isFrozen(c.admin.tokens[1]!.scopes));
  const err = t.throws(() => loadConfig({
    ADMIN_TOKEN: 'short',
    ADMIN_TOKENS: 'bad name:read:secret-token-0123456789,x:write:secret-token-0123456789,y:read+read:secret-token-0123456789,'
      + 'z:read:tooshort-secret,w:read:secret-token-0123456789,v:erase:secret-token-0123456789,w:hold:other-token-0123456789',
  })) as unknown as ConfigError;
  t.equal(err.problems.length, 7, err.message);
  t.match(err.message, /ADMIN_TOKEN must be at least 16/);
  t.match(err.message, /entry 2 \("x"\): scopes must be distinct values from read, erase, hold, optout/);
  t.match(err.message, /entry 6 \("v"\): the same token as another entry/);
  t.match(err.message, /entry 7: the name "w" is used twice/);
  for (const secret of ['secret-token-0123456789', 'tooshort-secret', 'short']) t.notMatch(err.message, secret, 'no token in the error');
});

t.test('HTTPS files come in pairs; METRICS_TOKEN and PRIVACY_HASH_KEY have a minimum length', async (t) => {
  t.same(loadConfig({ HTTPS_CERT_FILE: '/c.pem', HTTPS_KEY_FILE: '/k.pem' }).http.tls, { certFile: '/c.pem', keyFile: '/k.pem' });
  t.equal(loadConfig({}).http.tls, null);
  t.throws(() => loadConfig({ HTTPS_CERT_FILE: '/c.pem' }), /HTTPS_KEY_FILE must be set together/);
  t.throws(() => loadConfig({ HTTPS_KEY_FILE: '/k.pem' }), /HTTPS_CERT_FILE must be set together/);
  t.throws(() => loadConfig({ METRICS_TOKEN: 'short' }), /METRICS_TOKEN must be at least 16/);
  t.equal(loadConfig({ METRICS_TOKEN: 'metrics-token-0123456789' }).http.metricsToken, 'metrics-token-0123456789');
  t.throws(() => loadConfig({ PRIVACY_HASH_KEY: 'too-short' }), /PRIVACY_HASH_KEY must be at least 32/);
  t.equal(loadConfig({}).privacy.hashKey, null);
  t.throws(() => loadConfig({ ADMIN_AUTH_FAIL_LIMIT: '0' }), /ADMIN_AUTH_FAIL_LIMIT/);
});

t.test('CDR_ORPHAN_TIMEOUT_SECONDS: 200 s by default (beyond Timer C), never beyond the call state TTL', async (t) => {
  t.equal(loadConfig({}).cdr.orphanTimeoutSeconds, 200);
  t.equal(loadConfig({ CDR_ORPHAN_TIMEOUT_SECONDS: '3' }).cdr.orphanTimeoutSeconds, 3);
  t.throws(() => loadConfig({ CDR_ORPHAN_TIMEOUT_SECONDS: '0' }), /CDR_ORPHAN_TIMEOUT_SECONDS must be a whole number from 1/);
  t.throws(() => loadConfig({ CDR_ORPHAN_TIMEOUT_SECONDS: '600', CDR_CALL_STATE_TTL_SECONDS: '300' }),
    /CDR_ORPHAN_TIMEOUT_SECONDS must not exceed CDR_CALL_STATE_TTL_SECONDS \(600 > 300\)/);
});
