// npm run demo [-- --keep]: the daemon (`node dist/app.js`) and the drachtio peer with a small scripted
// scenario — a phone registers, a call comes in to it, a call goes out from it, and a call reaches an
// account that opted out of CDRs — then prints what landed in Redis and MySQL. --keep leaves the demo
// database and keys in place (otherwise they are removed at the end).
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import type { RowDataPacket } from 'mysql2/promise';
import { createAccountQueries } from '../lib/db/provision.js';
import { createPool } from '../lib/db/pool.js';
import { CDR_VERBS, answeredLeg, leg, unansweredLeg } from '../test/calls/helpers.js';
import { Device } from '../test/helpers/ua.js';
import { DrachtioPeer } from '../test/peer/drachtio-peer.js';
import { REDIS_URL, clearPrefix, dropDatabase, mysqlUrl, sleep } from './lib/common.js';
import { startDaemon } from './lib/procs.js';

const DB = 'sidecar_demo';
const PREFIX = 'demo:';
const { values: a } = parseArgs({ options: { keep: { type: 'boolean', default: false } } });
const say = (s = '') => process.stdout.write(`${s}\n`);
const iso = (offsetMs = 0) => new Date(Date.now() + offsetMs).toISOString();

async function main() {
  const started = Date.now();
  const redis = new Redis(REDIS_URL);
  await dropDatabase(DB);
  await clearPrefix(redis, PREFIX);
  const peer = await DrachtioPeer.listen();
  say(`drachtio peer listening on 127.0.0.1:${peer.port}; starting the daemon (node dist/app.js, MYSQL_URL=…/${DB}, REDIS_KEY_PREFIX=${PREFIX})`);
  const daemon = await startDaemon({ name: 'daemon-demo', peerPort: peer.port, database: DB, mysqlUrl: mysqlUrl(DB), prefix: PREFIX, env: { CDR_FLUSH_MS: '200' } });
  const pool = createPool({ url: mysqlUrl(DB), database: DB }, 2);
  try {
    await peer.waitForRoutes(['register', ...CDR_VERBS], { timeoutMs: 30_000 });
    const q = createAccountQueries(pool);
    const acme = await q.ensureAccount({ realm: 'acme.example.com', name: 'Acme' });
    await q.setClient({ accountSid: acme.accountSid, realm: 'acme.example.com', username: 'alice', password: 'wonderland' });
    await q.addNumber(acme.accountSid, '15551230001');
    const quiet = await q.ensureAccount({ realm: 'quiet.example.com', name: 'Quiet (opted out)', disableCdrs: true });
    await q.addNumber(quiet.accountSid, '15551230002');
    say(`provisioned: Acme ${acme.accountSid} (alice, +15551230001); Quiet ${quiet.accountSid} (+15551230002, disable_cdrs)`);

    say('\n1. alice\'s phone registers from 203.0.113.10:5062');
    const phone = Device.via(peer, { user: 'alice', password: 'wonderland', domain: 'acme.example.com', sourceAddress: '203.0.113.10', sourcePort: 5062 });
    const first = await phone.once();
    say(`   REGISTER → ${first.status} ${first.reason} (challenge: ${first.headers['www-authenticate']?.split('\r\n')[0]?.slice(0, 60)}…)`);
    phone.learn(first);
    const ok = await phone.once({ userAgent: 'DemoPhone/1.0' });
    say(`   REGISTER with credentials → ${ok.status} ${ok.reason}, Contact: ${ok.headers.contact}`);
    const again = await phone.once({ userAgent: 'DemoPhone/1.0' });
    say(`   re-REGISTER (same nonce, nc=${phone.nc}) → ${again.status} ${again.reason}`);

    say('\n2. a call comes in from the network to +15551230001 (INVITE and 200 OK carry SDP), answered, hung up');
    const inbound = leg({ fromUser: '15559870000', fromHost: 'carrier.example.net', toUser: '15551230001', toHost: 'acme.example.com', sourceIp: '198.51.100.20', userAgent: 'CarrierSBC/4.2 (serial 12345)' });
    await answeredLeg(peer, inbound, 'inbound', { attempt: iso(-65_000), answer: iso(-60_000), end: iso() });
    say('\n3. alice calls out through our application (X-Account-Sid), answered, hung up');
    const outbound = leg({ fromUser: 'alice', fromHost: 'acme.example.com', toUser: '15559870001', toHost: 'carrier.example.net', extraHeaders: [`X-Account-Sid: ${acme.accountSid}`] });
    await answeredLeg(peer, outbound, 'outbound', { attempt: iso(-30_000), answer: iso(-28_000), end: iso() });
    say('\n4. a call to the opted-out account (+15551230002), rejected 486');
    const optedOut = leg({ fromUser: '15559870002', toUser: '15551230002', toHost: 'quiet.example.com', sourceIp: '198.51.100.21' });
    await unansweredLeg(peer, optedOut, 'inbound', 486, { attempt: iso(-5_000), end: iso() });

    const until = Date.now() + 10_000;
    let rows: RowDataPacket[] = [];
    while (Date.now() < until) {
      [rows] = await pool.query<RowDataPacket[]>('SELECT * FROM cdrs ORDER BY attempted_at');
      if (rows.length >= 2) break;
      await sleep(100);
    }
    await sleep(500); // time for a (wrong) third row to show up, were the opt-out not applied

    say('\n── Redis (keys under the prefix; a binding is the only place the phone\'s IP is kept, for its TTL) ──');
    for (const key of (await redis.keys(`${PREFIX}*`)).sort()) {
      const type = await redis.type(key);
      const ttl = await redis.pttl(key);
      const value = type === 'string' ? await redis.get(key)
        : type === 'zset' ? JSON.stringify(await redis.zrange(key, '0', '-1', 'WITHSCORES'))
          : type === 'list' ? JSON.stringify(await redis.lrange(key, 0, -1))
            : type === 'hash' ? JSON.stringify(await redis.hgetall(key)) : '';
      say(`${key}  [${type}, TTL ${ttl < 0 ? 'none' : `${Math.round(ttl / 1000)} s`}]\n    ${value}`);
    }
    say('\n── MySQL cdrs (no SDP, no header outside the allow-list; nothing for the opted-out account) ──');
    [rows] = await pool.query<RowDataPacket[]>(`SELECT account_sid, sip_callid, direction, from_user, to_user, remote_host, attempted_at, answered_at,
      terminated_at, duration, answered, sip_status, termination_reason, role, user_agent FROM cdrs ORDER BY attempted_at`);
    for (const r of rows) say(JSON.stringify(r));
    const metrics = await (await fetch(`${daemon.httpUrl}/metrics`)).text();
    say('\n── metrics ──');
    for (const l of metrics.split('\n')) {
      if (/^sip_sidecar_(register_requests_total|cdrs_written_total|cdrs_skipped_total|cdr_events_total)/.test(l) && !/ 0$/.test(l)) say(l);
    }
    const optedOutRows = rows.filter((r) => r.account_sid === quiet.accountSid).length;
    say(`\n${rows.length} CDR rows (expected 2), ${optedOutRows} for the opted-out account (expected 0); ${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (rows.length !== 2 || optedOutRows !== 0) process.exitCode = 1;
  } finally {
    await daemon.stop();
    await pool.end();
    await peer.close();
    if (!a.keep) {
      await clearPrefix(redis, PREFIX);
      await dropDatabase(DB);
    }
    redis.disconnect();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`demo failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
