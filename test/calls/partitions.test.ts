// Day partitions of cdrs: planned from what exists, added ahead out of pmax, never a failed INSERT.
import t from 'tap';
import { ensurePartitions, listPartitions, planPartitions } from '../../lib/db/cdr-partitions.js';
import { sqlDateTime } from '../../lib/calls/row.js';
import { migrate } from '../../lib/db/migrate.js';
import { ensureDatabase } from '../../lib/db/pool.js';
import { createLogger } from '../../lib/log.js';
import { freshStores, type Stores } from '../helpers/harness.js';

const DAY = 86_400_000;
const D = (s: string) => Date.parse(`${s}T00:00:00Z`);
let stores: Stores;
t.before(async () => {
  stores = await freshStores('calls_partitions');
  await ensureDatabase({ url: stores.mysqlUrl, database: stores.database });
  await migrate(stores.pool, createLogger({ level: 'silent', hashKey: '' }));
});
t.teardown(() => stores.close());

t.test('plan: yesterday to today + 7 on an empty table, only what is missing afterwards', async (t) => {
  const now = Date.parse('2030-03-10T15:00:00Z');
  const fresh = planPartitions([], now);
  t.same(fresh.map((p) => p.name), ['p20300309', 'p20300310', 'p20300311', 'p20300312', 'p20300313', 'p20300314', 'p20300315', 'p20300316', 'p20300317']);
  t.equal(fresh[0].lessThan, D('2030-03-10'), 'pYYYYMMDD ends at the next midnight');
  t.same(planPartitions([D('2030-03-14')], now).map((p) => p.name), ['p20300314', 'p20300315', 'p20300316', 'p20300317']);
  t.same(planPartitions([D('2030-03-18')], now), [], 'already far enough ahead');
  const gap = planPartitions([D('2030-02-01')], now);
  t.same(gap[0], { name: 'p20300308', lessThan: D('2030-03-09') }, 'a gap becomes one partition ending before yesterday');
  t.equal(gap[1].name, 'p20300309');
  t.equal(gap.length, 10);
});

const partitionOf = async (callId: string) => {
  for (const p of (await listPartitions(stores.pool))!) {
    const [rows] = await stores.pool.query(`SELECT 1 FROM cdrs PARTITION (${p.name}) WHERE sip_callid = ?`, [callId]);
    if ((rows as unknown[]).length) return p.name;
  }
  return null;
};
const insert = (callId: string, attemptedAt: number) => stores.pool.query(
  `INSERT INTO cdrs (account_sid, sip_callid, direction, attempted_at, terminated_at, answered, termination_reason)
   VALUES ('a', ?, 'inbound', ?, ?, 0, 'call-rejected')`, [callId, sqlDateTime(attemptedAt), sqlDateTime(attemptedAt)]);

t.test('ensure: creates, is idempotent, survives concurrent instances, and rows land in their day', async (t) => {
  t.same((await listPartitions(stores.pool))!.map((p) => p.name), ['pmax'], 'the migration creates only the catch-all');
  await insert('far-past', D('2001-01-01'));
  await insert('far-future', D('2099-01-01'));
  await insert('in-ten-days', D('2030-03-20') + 5000);
  t.equal(await partitionOf('far-past'), 'pmax', 'nothing is refused before any day partition exists');

  const now = Date.parse('2030-03-10T15:00:00Z');
  t.equal((await ensurePartitions(stores.pool, now)).length, 9);
  t.same(await ensurePartitions(stores.pool, now), [], 'idempotent');
  t.equal(await partitionOf('far-past'), 'p20300309', 'older rows fall into the lowest partition');
  t.equal(await partitionOf('far-future'), 'pmax');

  const later = now + 10 * DAY;
  const [a, b] = await Promise.all([ensurePartitions(stores.pool, later), ensurePartitions(stores.pool, later)]);
  t.same([...a, ...b].sort(), ['p20300318', 'p20300319', 'p20300320', 'p20300321', 'p20300322', 'p20300323', 'p20300324', 'p20300325', 'p20300326', 'p20300327'],
    'two instances at once: each day added exactly once (the first covers the gap up to yesterday)');
  t.equal(await partitionOf('in-ten-days'), 'p20300320', 'a row held in pmax moves into its day');
  const names = (await listPartitions(stores.pool))!.map((p) => p.name);
  t.equal(names[names.length - 1], 'pmax', 'the catch-all stays last');
  t.equal(new Set(names).size, names.length);
});
