// Secrets never reach a log line, whatever the level and wherever they sit in the logged
// object; and `debug`/`trace`, which may log SIP users and addresses, say so at start-up.
import { Writable } from 'node:stream';
import t from 'tap';
import { freshStores, REDIS_URL, type Stores } from '../helpers/harness.js';
import { runApp } from '../helpers/app-process.js';
import { createLogger } from '../../lib/log.js';

// Written out here rather than imported from lib/log.ts: dropping one there must fail.
const SECRET_FIELDS = [
  'password', 'secret', 'token', 'access_token', 'nonce', 'cnonce', 'response', 'digest',
  'ha1', 'ha1_md5', 'ha1_sha256',
  'authorization', 'Authorization', 'proxy-authorization', 'Proxy-Authorization',
  'url', 'nonceSecret', 'hashKey',
];

function capture(level: 'info' | 'debug') {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      cb();
    },
  });
  return { log: createLogger({ level, hashKey: '' }, sink), lines };
}

for (const level of ['info', 'debug'] as const) {
  t.test(`level ${level}: every secret field is redacted at the top, one and two levels down`, async (t) => {
    const { log, lines } = capture(level);
    const shapes = (field: string, value: string): Record<string, unknown>[] => [
      { [field]: value },
      { headers: { [field]: value } },
      { req: { headers: { [field]: value } } },
      { contacts: [{ [field]: value }] },
    ];
    let logged = 0;
    for (const field of SECRET_FIELDS) {
      for (const [i, obj] of shapes(field, `SeCrEt-${field}-${level}`).entries()) {
        log[level]({ ...obj, shape: i, field }, 'a line with a secret');
        logged++;
      }
    }
    log.flush();
    t.equal(lines.length, logged, 'every line was written');
    for (const line of lines) {
      const parsed = JSON.parse(line) as Record<string, any>;
      t.notMatch(line, /SeCrEt-/, `${parsed.field} (shape ${parsed.shape}) is not in the line`);
      const at = [
        parsed[parsed.field], parsed.headers?.[parsed.field], parsed.req?.headers?.[parsed.field], parsed.contacts?.[0]?.[parsed.field],
      ][parsed.shape];
      t.equal(at, '[redacted]', `${parsed.field} (shape ${parsed.shape}) shows [redacted]`);
    }
  });
}

t.test('a SIP Authorization header as drachtio-srf hands it over', async (t) => {
  const { log, lines } = capture('debug');
  const authorization = 'Digest username="alice", realm="example.com", nonce="MTcwMDAwMDAwMA.abcdef", uri="sip:example.com", response="0123456789abcdef0123456789abcdef", algorithm=MD5, qop=auth, nc=00000001, cnonce="c0ffee"';
  log.info({ headers: { Authorization: authorization, 'Proxy-Authorization': authorization, 'User-Agent': 'Phone/1' } }, 'REGISTER received');
  log.debug({ req: { headers: { authorization, 'proxy-authorization': authorization } } }, 'REGISTER received');
  log.flush();
  t.equal(lines.length, 2);
  for (const line of lines) {
    for (const part of ['MTcwMDAwMDAwMA', '0123456789abcdef0123456789abcdef', 'c0ffee', 'username=']) t.notMatch(line, part);
  }
  t.match(lines[0], /"User-Agent":"Phone\/1"/, 'other headers are kept');
});

// ---------------------------------------------------------------- start-up warning

let stores: Stores;
t.before(async () => { stores = await freshStores('obslogs'); });
t.teardown(() => stores.close());

async function startupLines(level: string): Promise<Record<string, any>[]> {
  const p = runApp({
    LOG_LEVEL: level, DRACHTIO_PORT: '1', REDIS_URL, REDIS_KEY_PREFIX: stores.prefix, MYSQL_URL: stores.mysqlUrl, HTTP_PORT: '0', NONCE_SECRET: 'x',
  });
  try {
    // The warning comes before the HTTP server starts, so this line bounds the wait.
    await p.httpPort();
  } finally {
    await p.stop();
  }
  return p.lines;
}

t.test('LOG_LEVEL=debug and trace warn at start that logs may hold SIP users and addresses; info does not', async (t) => {
  const [debug, trace, info] = await Promise.all(['debug', 'trace', 'info'].map(startupLines));
  for (const [level, lines] of [['debug', debug], ['trace', trace]] as const) {
    t.ok(lines.some((l) => l.msg?.startsWith('HTTP server listening')), `${level}: started`);
    const warning = lines.find((l) => l.level === 'warn' && String(l.msg).includes(`LOG_LEVEL=${level}`));
    t.ok(warning, `${level}: warns`);
    t.match(warning?.msg, /SIP users and device addresses/);
    t.ok(lines.indexOf(warning!) < lines.findIndex((l) => l.msg?.startsWith('HTTP server listening')), `${level}: before serving`);
  }
  t.ok(info.some((l) => l.msg?.startsWith('HTTP server listening')), 'info: started');
  t.notOk(info.some((l) => String(l.msg).includes('LOG_LEVEL')), 'info: no such warning');
});
