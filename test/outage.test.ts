// Outage logging (lib/outage.ts): one line when a dependency goes and one when it is back; a recurring
// condition logged at once, then at most once per interval with the count since the last line.
import { Writable } from 'node:stream';
import t from 'tap';
import { createLogger } from '../lib/log.js';
import { createOutage, createRecurring } from '../lib/outage.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: createLogger({ level: 'info', hashKey: '' }, sink), lines };
}
const flush = () => new Promise((r) => setImmediate(r));

t.test('an outage: the first failure and the first success after it are logged, nothing between', async (t) => {
  const { log, lines } = capture();
  const o = createOutage(log, { lost: 'store gone', restored: 'store back', fields: { store: 'x' } });
  t.equal(o.recover(), false, 'no outage to end');
  t.equal(o.fail(new Error('refused')), true, 'the first failure starts it');
  t.equal(o.fail(new Error('refused again')), false);
  t.equal(o.down, true);
  t.equal(o.recover(), true, 'the first success ends it');
  t.equal(o.recover(), false);
  await flush();
  t.same(lines.map((l) => [l.level, l.msg, l.err, l.store]), [['error', 'store gone', 'refused', 'x'], ['info', 'store back', undefined, 'x']]);
});

t.test('a recurring condition: logged at once, then once per interval with how many occurred since', async (t) => {
  const { log, lines } = capture();
  let ms = 1_000;
  const r = createRecurring(log, { message: 'spool full', everyMs: 10_000, now: () => ms });
  r.hit({ max: 5 });
  for (let i = 0; i < 4; i++) { ms += 1_000; r.hit({ max: 5 }); }
  ms += 6_000; // 10 s after the first line
  r.hit({ max: 5 });
  ms += 9_999;
  r.hit({ max: 5 });
  await flush();
  t.same(lines.map((l) => [l.level, l.msg, l.occurrences, l.max]), [['error', 'spool full', 1, 5], ['error', 'spool full', 5, 5]],
    'the first at once; the next 10 s later counting the 4 held back and itself; none 9.999 s after');
});
