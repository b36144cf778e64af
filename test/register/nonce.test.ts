import t from 'tap';
import { createNonceService, parseNonceCount } from '../../lib/register/nonce.js';

const SECRET = 'test-secret-0123456789abcdef';
const T0 = 1_700_000_000_000;

function clock(start = T0) {
  const c = { ms: start, now: () => c.ms };
  return c;
}

/** Flips one bit of byte `i` of the decoded nonce and re-encodes it. */
function tamper(nonce: string, i: number): string {
  const raw = Buffer.from(nonce, 'base64url');
  raw[i] ^= 0x01;
  return raw.toString('base64url');
}

t.test('issued nonces verify and carry their issue time', async (t) => {
  const c = clock();
  const svc = createNonceService({ secret: SECRET, lifetimeSeconds: 300, now: c.now });
  t.equal(svc.lifetimeSeconds, 300);
  const n = svc.issue();
  t.match(n, /^[A-Za-z0-9_-]{43}$/, 'base64url, 32 bytes');
  t.same(svc.check(n), { state: 'valid', issuedAt: T0 });
  c.ms += 300_000;
  t.same(svc.check(n), { state: 'valid', issuedAt: T0 }, 'still valid at exactly the lifetime');
  t.not(svc.issue(), svc.issue(), 'random part makes nonces unique even in the same millisecond');
});

t.test('a nonce issued by another instance with the same secret verifies', async (t) => {
  const a = createNonceService({ secret: SECRET, lifetimeSeconds: 60, now: () => T0 });
  const b = createNonceService({ secret: Buffer.from(SECRET), lifetimeSeconds: 60, now: () => T0 + 1000 });
  t.same(b.check(a.issue()), { state: 'valid', issuedAt: T0 });
});

t.test('expired nonces are stale', async (t) => {
  const c = clock();
  const svc = createNonceService({ secret: SECRET, lifetimeSeconds: 300, now: c.now });
  const n = svc.issue();
  c.ms += 300_001;
  t.same(svc.check(n), { state: 'stale' });
  c.ms += 86_400_000;
  t.same(svc.check(n), { state: 'stale' });
});

t.test('nonces from the future are invalid beyond a small clock skew', async (t) => {
  const c = clock();
  const svc = createNonceService({ secret: SECRET, lifetimeSeconds: 300, now: c.now });
  const n = svc.issue();
  c.ms = T0 - 2_000;
  t.equal(svc.check(n).state, 'valid', 'a couple of seconds of skew is tolerated');
  c.ms = T0 - 60_000;
  t.same(svc.check(n), { state: 'invalid' });
});

t.test('tampering with any byte invalidates the nonce', async (t) => {
  const svc = createNonceService({ secret: SECRET, lifetimeSeconds: 300, now: () => T0 });
  const n = svc.issue();
  for (let i = 0; i < 32; i++) t.same(svc.check(tamper(n, i)), { state: 'invalid' }, `byte ${i}`);
  // Moving the issue time forward (to dodge staleness) breaks the MAC too.
  const raw = Buffer.from(n, 'base64url');
  raw.writeBigUInt64BE(BigInt(T0 + 1), 0);
  t.same(svc.check(raw.toString('base64url')), { state: 'invalid' });
});

t.test('non-canonical base64url spellings of a valid nonce are invalid', async (t) => {
  const svc = createNonceService({ secret: SECRET, lifetimeSeconds: 300, now: () => T0 });
  const n = svc.issue();
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = alphabet.indexOf(n[42]);
  // The last char encodes 4 data bits + 2 zero padding bits; setting a padding bit keeps the bytes.
  const variant = n.slice(0, 42) + alphabet[last | 1];
  t.not(variant, n);
  t.same(Buffer.from(variant, 'base64url'), Buffer.from(n, 'base64url'), 'same bytes');
  t.same(svc.check(variant), { state: 'invalid' });
});

t.test('a nonce made with another secret is invalid', async (t) => {
  const mine = createNonceService({ secret: SECRET, lifetimeSeconds: 300, now: () => T0 });
  const theirs = createNonceService({ secret: SECRET + 'x', lifetimeSeconds: 300, now: () => T0 });
  t.same(mine.check(theirs.issue()), { state: 'invalid' });
  t.equal(theirs.check(theirs.issue()).state, 'valid');
});

t.test('garbage is invalid and never throws', async (t) => {
  const svc = createNonceService({ secret: SECRET, lifetimeSeconds: 300, now: () => T0 });
  const n = svc.issue();
  const garbage: unknown[] = [
    '', 'x', 'a'.repeat(10 * 1024), '!'.repeat(43), n + '=', n.slice(0, 42), n + 'A', ' ' + n,
    n.replace(/./, '+'), 'dcd98b7102dd2f0e8b11d0f600bfb0c093', '\u0000'.repeat(43), 'é'.repeat(43),
    null, undefined, 42, {},
  ];
  for (const g of garbage) {
    t.same(svc.check(g as string), { state: 'invalid' }, JSON.stringify(g)?.slice(0, 40) ?? String(g));
  }
});

t.test('construction refuses bad options', async (t) => {
  t.throws(() => createNonceService({ secret: '', lifetimeSeconds: 300 }));
  t.throws(() => createNonceService({ secret: Buffer.alloc(0), lifetimeSeconds: 300 }));
  t.throws(() => createNonceService({ secret: SECRET, lifetimeSeconds: 0 }));
  t.throws(() => createNonceService({ secret: SECRET, lifetimeSeconds: NaN }));
});

t.test('default clock is Date.now', async (t) => {
  const svc = createNonceService({ secret: SECRET, lifetimeSeconds: 60 });
  const before = Date.now();
  const r = svc.check(svc.issue());
  t.equal(r.state, 'valid');
  if (r.state === 'valid') t.ok(r.issuedAt >= before && r.issuedAt <= Date.now());
});

t.test('parseNonceCount', async (t) => {
  t.equal(parseNonceCount('00000001'), 1);
  t.equal(parseNonceCount('0000000a'), 10);
  t.equal(parseNonceCount('0000000A'), 10);
  t.equal(parseNonceCount('ffffffff'), 0xffffffff);
  t.equal(parseNonceCount('00000000'), 0);
  for (const bad of ['', '1', '0000001', '000000001', '0000000g', ' 00000001', '0x000001', '-0000001']) {
    t.equal(parseNonceCount(bad), null, JSON.stringify(bad));
  }
  t.equal(parseNonceCount(undefined as unknown as string), null);
});

t.test('a nonce bound to an address verifies only from that address', async (t) => {
  const svc = createNonceService({ secret: 'k', lifetimeSeconds: 60 });
  const n = svc.issue('192.0.2.1');
  t.equal(svc.check(n, '192.0.2.1').state, 'valid');
  t.equal(svc.check(n, '192.0.2.2').state, 'invalid');
  t.equal(svc.check(n).state, 'invalid', 'unbound check of a bound nonce');
  t.equal(svc.check(svc.issue(), '192.0.2.1').state, 'invalid', 'bound check of an unbound nonce');
});
