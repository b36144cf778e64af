import t from 'tap';
import {
  parseContactHeader, parseDeltaSeconds, parseDigestAuthorization, parseNameAddr,
  parseSipUri, splitHeaderList, type NameAddr,
} from '../../lib/register/sip-headers.js';

const TEN_KB = 'a'.repeat(10 * 1024);
const INSTANCE = '<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>';

// Plain objects for comparison: the parsers return prototype-less param records.
const plain = (o: object | null) => (o === null ? null : JSON.parse(JSON.stringify(o)));

t.test('parseSipUri accepts', async (t) => {
  const good: [string, object][] = [
    ['sip:alice@Example.com:5070;transport=tcp',
      { scheme: 'sip', user: 'alice', host: 'example.com', port: 5070, params: { transport: 'tcp' } }],
    ['SIPS:Bob@EXAMPLE.org', { scheme: 'sips', user: 'Bob', host: 'example.org', port: null, params: {} }],
    ['sip:example.com', { scheme: 'sip', user: null, host: 'example.com', port: null, params: {} }],
    ['sip:alice%20smith%40home@example.com', { scheme: 'sip', user: 'alice smith@home', host: 'example.com', port: null, params: {} }],
    ['sip:alice@[2001:DB8::1]:5060;lr', { scheme: 'sip', user: 'alice', host: '[2001:db8::1]', port: 5060, params: { lr: null } }],
    ['sip:alice@[::1]', { scheme: 'sip', user: 'alice', host: '[::1]', port: null, params: {} }],
    ['sip:alice:secret@host', { scheme: 'sip', user: 'alice', host: 'host', port: null, params: {} }],
    ['sip:alice@127.0.0.1;ob;Transport=UDP',
      { scheme: 'sip', user: 'alice', host: '127.0.0.1', port: null, params: { ob: null, transport: 'UDP' } }],
    ['sip:+15551234567;phone-context=example.com@example.com;user=phone',
      { scheme: 'sip', user: '+15551234567;phone-context=example.com', host: 'example.com', port: null, params: { user: 'phone' } }],
    ['sip:alice@host:1?subject=hi', { scheme: 'sip', user: 'alice', host: 'host', port: 1, params: {} }],
    ['sip:alice@host:65535;gr=urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6',
      { scheme: 'sip', user: 'alice', host: 'host', port: 65535, params: { gr: 'urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6' } }],
    ['  sip:alice@host  ', { scheme: 'sip', user: 'alice', host: 'host', port: null, params: {} }],
  ];
  for (const [input, expected] of good) t.same(plain(parseSipUri(input)), expected, input);
});

t.test('parseSipUri rejects', async (t) => {
  const bad = [
    '', 'alice@127.0.0.1', 'tel:+15551234567', 'http://example.com', 'sip', 'sip:', 'sip:@host',
    'sip:alice@', 'sip:alice@host:0', 'sip:alice@host:65536', 'sip:alice@host:123456', 'sip:alice@host:abc',
    'sip:alice@host:', 'sip:alice@host:5060x', 'sip:alice@[::1', 'sip:alice@[zz::1]', 'sip:alice@[::1]x',
    'sip:alice@ho st', 'sip:al ice@host', 'sip:alice%zz@host', 'sip:alice%00@host', 'sip:%C3%28@host',
    'sip:alice@host;;x', 'sip:alice@host;a=1;a=2', 'sip:alice@host;a=1;A=2', 'sip:alice@host;',
    'sip:alice@.host', 'sip:alice@-host', 'sip:alice@a..b', 'sip:alice@host_name', 'sip:a"b@host',
    'sip:<alice>@host', `sip:${'a'.repeat(5000)}@host`, TEN_KB,
  ];
  for (const input of bad) t.equal(parseSipUri(input), null, input.slice(0, 60));
});

t.test('splitHeaderList', async (t) => {
  t.same(splitHeaderList('<sip:a@b>, <sip:c@d>'), ['<sip:a@b>', '<sip:c@d>']);
  t.same(splitHeaderList(' one ,two,  three '), ['one', 'two', 'three']);
  t.same(splitHeaderList('"Smith, John" <sip:j@x>, "Doe, \\"Jane\\", \\\\" <sip:jane@x>;q=0.5'),
    ['"Smith, John" <sip:j@x>', '"Doe, \\"Jane\\", \\\\" <sip:jane@x>;q=0.5']);
  t.same(splitHeaderList('<sip:a@b;x=1,2>;p="<,>"'), ['<sip:a@b;x=1,2>;p="<,>"'], 'commas inside <> and quotes');
  t.same(splitHeaderList('single'), ['single']);
  t.same(splitHeaderList(''), []);
  const bad = ['"unterminated, <sip:a@b>', '<sip:a@b', '<sip:a@b>, <sip:c@d', 'sip:a@b>', 'a,,b', 'a,', ',a',
    '"ends with backslash\\', TEN_KB];
  for (const input of bad) t.equal(splitHeaderList(input), null, input.slice(0, 60));
});

t.test('parseNameAddr accepts', async (t) => {
  const good: [string, NameAddr][] = [
    [`"Alice" <sip:a@b;transport=udp>;expires=60;+sip.instance="${INSTANCE}"`,
      { displayName: 'Alice', uri: 'sip:a@b;transport=udp', params: { 'expires': '60', '+sip.instance': INSTANCE } }],
    ['<sip:alice@127.0.0.1>;expires=0', { displayName: null, uri: 'sip:alice@127.0.0.1', params: { expires: '0' } }],
    ['<alice@127.0.0.1>', { displayName: null, uri: 'alice@127.0.0.1', params: {} }],
    // addr-spec: params after the URI belong to the header (RFC 3261 20.10)
    ['sip:alice@host;expires=30;Q=0.5', { displayName: null, uri: 'sip:alice@host', params: { expires: '30', q: '0.5' } }],
    ['sip:alice@host', { displayName: null, uri: 'sip:alice@host', params: {} }],
    ['Alice Smith <sip:a@b>', { displayName: 'Alice Smith', uri: 'sip:a@b', params: {} }],
    ['Alice<sip:a@b>', { displayName: 'Alice', uri: 'sip:a@b', params: {} }],
    ['"Al\\"ice, \\\\ Jr" <sip:a@b>', { displayName: 'Al"ice, \\ Jr', uri: 'sip:a@b', params: {} }],
    ['"" <sip:a@b>', { displayName: '', uri: 'sip:a@b', params: {} }],
    ['<sip:a@b> ; Expires = 10 ;Q=0.7;lr', { displayName: null, uri: 'sip:a@b', params: { expires: '10', q: '0.7', lr: null } }],
    ['<sip:a@b>;reg-id=1;+sip.instance="<urn:uuid:x>";received=[2001:db8::1]',
      { displayName: null, uri: 'sip:a@b', params: { 'reg-id': '1', '+sip.instance': '<urn:uuid:x>', 'received': '[2001:db8::1]' } }],
    ["<sip:alice'--@b>", { displayName: null, uri: "sip:alice'--@b", params: {} }],
  ];
  for (const [input, expected] of good) t.same(plain(parseNameAddr(input)), expected, input);
  t.equal(parseSipUri('alice@127.0.0.1'), null, 'the scheme-less URI itself is not a SIP URI');
});

t.test('parseNameAddr keeps "__proto__" as an ordinary param', async (t) => {
  const r = parseNameAddr('<sip:a@b>;__proto__=x;constructor=y');
  t.ok(r);
  t.equal(Object.getOwnPropertyDescriptor(r!.params, '__proto__')?.value, 'x');
  t.equal(r!.params['constructor'], 'y');
  t.equal(({} as Record<string, unknown>)['x'], undefined, 'Object.prototype untouched');
  t.equal(parseNameAddr('<sip:a@b>')!.params['toString'], undefined, 'no inherited keys');
});

t.test('parseNameAddr rejects', async (t) => {
  const bad = [
    '', '   ', '"Alice <sip:a@b>', '"Alice" sip:a@b', '<sip:a@b', '<sip:a@b>x', '<sip:a@b>;expires=1;expires=2',
    '<sip:a@b>;expires=1;EXPIRES=2', '<>', '<sip:a b@c>', 'sip:a@b?x=y', 'sip:a@b,c', '<sip:a@b>;expires=',
    '<sip:a@b>;=1', '<sip:a@b>;x="unterminated', '<sip:a@b>;', '<sip:a@b>;;x', 'Al"ice <sip:a@b>',
    '"Alice\r\nVia: evil" <sip:a@b>', '<sip:a@b>;x="a\u0000b"', 'Alice sip:a@b', '<sip:a"b@c>',
    '<sip:a@b>;x=a b', '<sip:a@b>,<sip:c@d>', TEN_KB,
  ];
  for (const input of bad) t.equal(parseNameAddr(input), null, JSON.stringify(input.slice(0, 60)));
});

t.test('parseContactHeader', async (t) => {
  t.same(parseContactHeader('*'), { star: true });
  t.same(parseContactHeader('  *  '), { star: true });

  const two = '"Smith, Alice" <sip:alice@10.0.0.1:5060;transport=tcp>;expires=3600, "Bob, \\"Jr\\"" <sip:bob@10.0.0.2>;q=0.5';
  t.same(plain(parseContactHeader(two)), {
    star: false,
    contacts: [
      { displayName: 'Smith, Alice', uri: 'sip:alice@10.0.0.1:5060;transport=tcp', params: { expires: '3600' } },
      { displayName: 'Bob, "Jr"', uri: 'sip:bob@10.0.0.2', params: { q: '0.5' } },
    ],
  });
  t.same(plain(parseContactHeader('<sip:alice@127.0.0.1>;expires=0')), {
    star: false, contacts: [{ displayName: null, uri: 'sip:alice@127.0.0.1', params: { expires: '0' } }],
  });
  t.same(plain(parseContactHeader('sip:a@b;expires=5, sip:c@d')), {
    star: false,
    contacts: [{ displayName: null, uri: 'sip:a@b', params: { expires: '5' } }, { displayName: null, uri: 'sip:c@d', params: {} }],
  });

  const list = (n: number) => Array.from({ length: n }, (_, i) => `<sip:u${i}@10.0.0.1>`).join(', ');
  const twenty = parseContactHeader(list(20));
  t.equal(twenty?.star === false && twenty.contacts.length, 20, '20 contacts accepted');
  t.equal(parseContactHeader(list(21)), null, '21 contacts rejected');
  t.equal(parseContactHeader(list(100)), null, '100 contacts rejected');

  const bad = ['', '**', '<alice@127.0.0.1>', 'alice@host', '*, <sip:a@b>', '<sip:a@b>, *', '*;expires=0', '<sip:a@b>,', '<sip:a@b>, garbage"',
    '<sip:a@b>, <sip:c@d>;expires=1;expires=2', '<sip:a@b', TEN_KB, `<sip:a@b>;x="${'a'.repeat(4090)}"`];
  for (const input of bad) t.equal(parseContactHeader(input), null, input.slice(0, 60));
});

t.test('parseDeltaSeconds', async (t) => {
  const good: [string, number][] = [['0', 0], ['3600', 3600], [' 60 ', 60], ['007', 7], ['4294967295', 4294967295]];
  for (const [input, n] of good) t.equal(parseDeltaSeconds(input), n, input);
  for (const input of ['abc', '-1', '1.5', '', ' ', '1e3', '+5', '0x10', '4294967296', '99999999999', '1 2', '６０', TEN_KB]) {
    t.equal(parseDeltaSeconds(input), null, input.slice(0, 20));
  }
  t.equal(parseDeltaSeconds(null), null);
  t.equal(parseDeltaSeconds(undefined), null);
});

const AUTH = 'Digest username="alice", realm="example.com", nonce="abc/+=", uri="sip:example.com", '
  + 'response="0123456789abcdef0123456789abcdef", algorithm=MD5, qop=auth, nc=00000001, cnonce="xyz", opaque="op"';

t.test('parseDigestAuthorization accepts', async (t) => {
  t.same(parseDigestAuthorization(AUTH), {
    scheme: 'Digest', username: 'alice', realm: 'example.com', nonce: 'abc/+=', uri: 'sip:example.com',
    response: '0123456789abcdef0123456789abcdef', algorithm: 'MD5', qop: 'auth', nc: '00000001', cnonce: 'xyz', opaque: 'op',
  });
  t.same(parseDigestAuthorization('digest username="a",realm="r",nonce="n",uri="sip:r",response="f"'), {
    scheme: 'Digest', username: 'a', realm: 'r', nonce: 'n', uri: 'sip:r', response: 'f',
    algorithm: 'MD5', qop: null, nc: null, cnonce: null, opaque: null,
  }, 'no qop, algorithm defaults to MD5');

  const variant = (s: string) => parseDigestAuthorization(s);
  t.equal(variant(AUTH.replace('algorithm=MD5', 'algorithm=sha-256'))?.algorithm, 'SHA-256');
  t.equal(variant(AUTH.replace('algorithm=MD5', 'algorithm="SHA-256"'))?.algorithm, 'SHA-256');
  t.equal(variant(AUTH.replace('qop=auth', 'qop="auth"'))?.qop, 'auth', 'quoted qop from lax clients');
  t.equal(variant(AUTH.replace('Digest', 'DIGEST'))?.scheme, 'Digest');
  t.equal(variant(AUTH.replace('username="alice"', `username="alice' OR '1'='1"`))?.username, "alice' OR '1'='1",
    'SQL metacharacters are just characters');
  t.equal(variant(AUTH.replace('username="alice"', 'username="al\\"ice\\\\"'))?.username, 'al"ice\\', 'escapes');
  t.equal(variant(AUTH.replace('username="alice"', 'username="a, b=c"'))?.username, 'a, b=c', 'comma in quotes');
  t.equal(variant(AUTH + ', foo=bar, baz="q"')?.username, 'alice', 'unknown params ignored');
  t.equal(variant(AUTH.replace(/, /g, ' ,\t').replace(/=/g, ' = '))?.cnonce, 'xyz', 'whitespace around , and =');
  t.equal(variant(AUTH.replace('realm="example.com"', 'realm=""'))?.realm, '', 'empty realm is still a realm');

  // The RFC 2617 3.5 example header.
  const rfc = parseDigestAuthorization(`Digest username="Mufasa",
 realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html",
 qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1",
 opaque="5ccc069c403ebaf9f0171e9517f40e41"`.replace(/\n/g, ''));
  t.equal(rfc?.response, '6629fae49393a05397450978507c4ef1');
  t.equal(rfc?.opaque, '5ccc069c403ebaf9f0171e9517f40e41');
});

t.test('parseDigestAuthorization rejects', async (t) => {
  const without = (name: string) => AUTH.replace(new RegExp(`${name}=("[^"]*"|[^,]*),? ?`), '');
  const bad: [string, string][] = [
    ['', 'empty'], ['Digest', 'scheme only'], ['Digest ', 'scheme and space'], ['Basic abc', 'Basic'],
    ['Basic dXNlcjpwYXNz', 'Basic credentials'], ['Digest username=', 'empty value'],
    ['Digest username="alice', 'unterminated quote'], [AUTH.replace('"op"', '"op'), 'unterminated last quote'],
    [AUTH.replace('Digest ', 'Digest'), 'no space after scheme'], [AUTH.replace('Digest ', 'Bearer '), 'other scheme'],
    [without('username'), 'no username'], [without('realm'), 'no realm'], [without('nonce'), 'no nonce'],
    [without('uri'), 'no uri'], [without('response'), 'no response'],
    [without('nc'), 'qop without nc'], [without('cnonce'), 'qop without cnonce'],
    [AUTH.replace('nc=00000001', 'nc=1'), 'short nc'], [AUTH.replace('nc=00000001', 'nc=0000000g'), 'non-hex nc'],
    [AUTH.replace('nc=00000001', 'nc=000000001'), 'long nc'],
    [AUTH.replace('username="alice"', 'username=""'), 'empty username'],
    [AUTH + ', username="bob"', 'duplicate username'], [AUTH + ', USERNAME="bob"', 'duplicate username, other case'],
    [AUTH + ', stale', 'bare param'], [AUTH + ',', 'trailing comma'], [AUTH.replace('Digest ', 'Digest , '), 'leading comma'],
    [AUTH.replace(', realm', ',, realm'), 'empty element'], [AUTH.replace(/, /g, '; '), 'semicolons'],
    [AUTH.replace('"alice"', '"ali\r\nce"'), 'CRLF inside a value'], [AUTH.replace('"alice"', 'alice bob'), 'space in token'],
    [AUTH + `, x="${TEN_KB}"`, '10 KB'],
  ];
  for (const [input, why] of bad) t.equal(parseDigestAuthorization(input), null, why);
  t.ok(parseDigestAuthorization(AUTH), 'the base header itself is fine (so each rejection above is for its reason)');
});

t.test('pathological inputs return promptly and never throw', async (t) => {
  const nasty = [
    '<' + 'a'.repeat(50000), '<' + 'a'.repeat(4000), '<'.repeat(4000), '"'.repeat(4001), '"' + '\\'.repeat(4000),
    ';'.repeat(4000), ','.repeat(4000), '<sip:a@b>' + ';a'.repeat(1900), 'a'.repeat(4000) + '<',
    'sip:' + '@'.repeat(4000), 'sip:' + 'a.'.repeat(2000) + '!', 'sip:a@[' + ':'.repeat(4000),
    'Digest ' + 'a=b,'.repeat(1000), 'Digest ' + 'a'.repeat(4000) + '=', ' \t'.repeat(2000),
  ];
  const fns: ((s: string) => unknown)[] = [
    parseSipUri, parseNameAddr, splitHeaderList, parseContactHeader, parseDigestAuthorization, parseDeltaSeconds,
  ];
  for (const s of nasty) {
    for (const fn of fns) t.doesNotThrow(() => fn(s), `${fn.name}(${JSON.stringify(s.slice(0, 12))}...)`);
    t.equal(parseSipUri(s), null);
    t.equal(parseDigestAuthorization(s), null);
  }
  // Non-string input from an untyped caller is malformed, not a crash.
  for (const fn of fns) t.doesNotThrow(() => fn(undefined as unknown as string), `${fn.name}(undefined)`);
});
