// SIGTERM to the built daemon while CDR events are in flight, with Redis up: nothing may be counted
// lost. Every stop the daemon received has its row (in MySQL, or still in the spool for the next
// instance), and the recorder's last line says it received that many events and lost none. Several
// rounds, because the signal must land at different moments of the events' handling.
import t from 'tap';
import type { RowDataPacket } from 'mysql2/promise';
import { createSpool } from '../../lib/calls/spool.js';
import { DrachtioPeer } from '../peer/drachtio-peer.js';
import { runApp } from '../helpers/app-process.js';
import { eventually, freshStores, provision, REDIS_URL, type Stores } from '../helpers/harness.js';
import { CDR_VERBS, leg, tod } from './helpers.js';

const ROUNDS = 4;
const LEGS = 80;
let stores: Stores;
t.before(async () => {
  stores = await freshStores('calls_shutdown');
});
t.teardown(() => stores.close());

t.test('SIGTERM while events are in flight: lost counts only what was lost (none, with Redis up)', async (t) => {
  for (let round = 0; round < ROUNDS; round++) {
    const peer = await DrachtioPeer.listen();
    const app = runApp({
      DRACHTIO_PORT: String(peer.port), REDIS_URL, REDIS_KEY_PREFIX: stores.prefix, MYSQL_URL: stores.mysqlUrl,
      HTTP_PORT: '0', NONCE_SECRET: 'x', LOG_LEVEL: 'info',
    });
    t.teardown(() => { app.child.kill('SIGKILL'); return peer.close(); });
    await peer.waitForRoutes(CDR_VERBS, { timeoutMs: 15_000 });
    if (round === 0) await provision(stores.pool, { realm: 'down.example', numbers: ['+15559990000'] });
    const legs = Array.from({ length: LEGS }, () => leg({ toUser: '+15559990000', sourceIp: '203.0.113.90' }));
    let stopsSent = 0;
    const when = tod(new Date().toISOString());
    // All legs at once: attempts and stops interleave on the connection, and the signal lands while
    // some are being applied. Sends to a daemon that has gone away fail; that is expected.
    const sending = Promise.all(legs.map(async (l) => {
      await peer.sendCdr('attempt', 'network', when, l.invite);
      await peer.sendCdr('stop', 'application', when, 'call-rejected', l.final(486));
      stopsSent++;
    }).map((p) => p.catch(() => undefined)));
    // The signal lands while the peer is still writing (half the legs sent; frames may be cut mid-way on
    // the wire) and while the recorder applies what it read. Once the daemon hands its routes back, the
    // peer has no app to send the rest to: those sends fail, which is what a real server's would do too.
    await eventually(() => stopsSent >= LEGS / 2 || null, 10_000, 1, 'half the legs written to the daemon');
    app.child.kill('SIGTERM');
    await sending;
    const code = await app.exited;
    t.equal(code, 0, `round ${round}: exit 0`, code === 0 ? {} : { stderr: app.stderr.slice(-800), last: app.lines.slice(-5).map((l) => l.msg) });

    const stopped = app.lines.find((l) => l.msg === 'CDR recorder stopped');
    t.ok(stopped, `round ${round}: the recorder said what it received`);
    t.equal(stopped?.lost, 0, `round ${round}: nothing counted lost`);
    t.same(app.lines.filter((l) => /lost/.test(String(l.msg))), [], `round ${round}: no line about lost events`);
    const ids = legs.map((l) => l.callId);
    const [rows] = await stores.pool.query<RowDataPacket[]>('SELECT sip_callid FROM cdrs WHERE sip_callid IN (?)', [ids]);
    const spool = createSpool(stores.redis, stores.prefix, 1);
    const all: string[] = [];
    for (const sh of spool.shards) all.push(...(await stores.redis.lrange(sh.key, 0, -1)));
    const spooled = all.map((j) => (JSON.parse(j) as { callId: string }).callId).filter((id) => ids.includes(id));
    const recorded = new Set([...rows.map((r) => String(r.sip_callid)), ...spooled]);
    // Each leg's stop follows its attempt on one connection: every stop received is a leg to record.
    t.ok(recorded.size >= 1, `round ${round}: some legs were recorded (${recorded.size})`);
    t.equal(recorded.size, stopped?.received?.stop, `round ${round}: every stop received has its row`);
  }
});
