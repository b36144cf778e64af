// The declared-keys memory (lib/register/declared-keys.ts) on its own: what it declares first, how it learns
// from a script naming keys it was not given, and that it gives up — coded, as an outage — when the keys keep
// changing under it. (The scripts' side of this: test/scripts.test.ts and binding-store.test.ts, on Redis.)
import t from 'tap';
import { createKeyMemory, type Reply } from '../../lib/register/declared-keys.js';
import { errorKind, UndeclaredKeysError } from '../../lib/errors.js';

const held = (r: Reply<'ok'>) => r.slice(1).filter((x): x is string => typeof x === 'string');

t.test('declares what it learnt: the cids named, then those an answer held', async (t) => {
  const m = createKeyMemory();
  const calls: string[][] = [];
  const first = await m.declaring<'ok'>('s', 'aor1', ['mine'], async (others) => {
    calls.push(others);
    return calls.length === 1 ? ['keys', 'other'] : ['ok', 'mine', 'other'];
  }, held);
  t.same(first, ['ok', 'mine', 'other']);
  t.same(calls, [[], ['other']], 'nothing known at first; the named cid on the second call');
  calls.length = 0;
  await m.declaring<'ok'>('s', 'aor1', [], async (others) => { calls.push(others); return ['ok']; }, held);
  t.same(calls, [['mine', 'other']], 'the next call declares what the AOR held');
  calls.length = 0;
  await m.declaring<'ok'>('s', 'aor1', [], async (others) => { calls.push(others); return ['ok']; }, held);
  t.same(calls, [[]], 'an AOR answered empty is forgotten');
});

t.test('keys that change on every attempt: three calls, then UndeclaredKeysError, an outage (503), not a bug', async (t) => {
  const m = createKeyMemory();
  let n = 0;
  const err = await m.declaring<'ok'>('store-bindings.lua', 'aor2', [], async () => ['keys', `new${++n}`], held).catch((e: unknown) => e);
  t.equal(n, 3, 'called three times');
  t.ok(err instanceof UndeclaredKeysError, 'UndeclaredKeysError');
  t.equal((err as UndeclaredKeysError).code, 'ERR_UNDECLARED_KEYS');
  t.equal(errorKind(err), 'unavailable', 'answered like a store outage: retried later');
  t.match((err as Error).message, /store-bindings\.lua/);
});

t.test('a status other than ok passes through and teaches nothing', async (t) => {
  const m = createKeyMemory();
  t.same(await m.declaring<'ok' | 'replayed'>('s', 'aor3', [], async () => ['replayed'], held as (r: Reply<'ok' | 'replayed'>) => string[]), ['replayed']);
  const seen: string[][] = [];
  await m.declaring<'ok'>('s', 'aor3', [], async (o) => { seen.push(o); return ['ok']; }, held);
  t.same(seen, [[]]);
});
