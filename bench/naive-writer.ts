// The CDR baseline: what a first attempt would do. A drachtio-srf app that takes the same cdr:attempt,
// cdr:start and cdr:stop events, keeps each call in memory, and on the stop writes the row with one
// INSERT of its own (autocommit, no batching) into a `cdrs` table of the same schema. It does less than
// the daemon (no Redis, no correlation across instances, no account lookup, no spool), so the ratio
// flatters it. Run as a child of the bench: DRACHTIO_PORT names the peer, MYSQL_URL the database,
// NAIVE_ACCOUNT_SID the account every row is filed under.
import Srf from 'drachtio-srf';
import { runBenchApp } from './lib/srf-app.js';
import mysql from 'mysql2/promise';

interface Call { attemptedAt: number; answeredAt: number | null; from: string | null; to: string | null; ua: string | null; inbound: boolean }

const pool = mysql.createPool({ uri: process.env.MYSQL_URL, connectionLimit: 10, timezone: 'Z' });
const accountSid = process.env.NAIVE_ACCOUNT_SID ?? '00000000-0000-0000-0000-000000000000';
const calls = new Map<string, Call>();
const userOf = (nameAddr: string | undefined) => (nameAddr ? /sips?:([^@;>]+)@/.exec(nameAddr)?.[1] ?? null : null);
const dt = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
let failures = 0;

const srf = new Srf();
srf.on('cdr:attempt', (source, _time, msg) => {
  calls.set(msg.get('Call-ID'), {
    attemptedAt: Date.now(), answeredAt: null, from: userOf(msg.get('From')), to: userOf(msg.get('To')),
    ua: msg.get('User-Agent') || null, inbound: source === 'network',
  });
});
srf.on('cdr:start', (_source, _time, _role, msg) => {
  const c = calls.get(msg.get('Call-ID'));
  if (c) c.answeredAt = Date.now();
});
srf.on('cdr:stop', (_source, _time, reason, msg) => {
  const id = msg.get('Call-ID');
  const c = calls.get(id);
  if (!c) return;
  calls.delete(id);
  const end = Date.now();
  pool.query(
    `INSERT INTO cdrs (account_sid, sip_callid, direction, from_user, to_user, remote_host, attempted_at, answered_at, terminated_at,
       duration, answered, sip_status, termination_reason, role, user_agent, created_at)
     VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(3))`,
    [accountSid, id, c.inbound ? 'inbound' : 'outbound', c.from, c.to, dt(c.attemptedAt), c.answeredAt === null ? null : dt(c.answeredAt),
      dt(end), c.answeredAt === null ? 0 : Math.floor((end - c.answeredAt) / 1000), c.answeredAt !== null ? 1 : 0,
      c.answeredAt !== null ? 200 : null, reason, c.answeredAt !== null ? 'uas' : null, c.ua],
  ).catch((err: Error) => {
    if (failures++ < 5) process.stderr.write(`naive writer: INSERT failed: ${err.message}\n`);
  });
});
runBenchApp(srf, 'naive writer', () => pool.end());
