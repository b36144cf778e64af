import t from 'tap';
import { createHash } from 'node:crypto';
import {
  computeHa1, expectedResponse, isSupportedAlgorithm, verifyResponse, type DigestAlgorithm,
} from '../../lib/register/digest.js';

// RFC 2617 section 3.5 worked example.
const RFC2617 = {
  username: 'Mufasa', password: 'Circle Of Life', realm: 'testrealm@host.com',
  nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093', uri: '/dir/index.html', method: 'GET',
  qop: 'auth', nc: '00000001', cnonce: '0a4f113b', response: '6629fae49393a05397450978507c4ef1',
};

// RFC 7616 section 3.9.1 example (same inputs for both algorithms).
const RFC7616 = {
  username: 'Mufasa', password: 'Circle of Life', realm: 'http-auth@example.org',
  nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v', uri: '/dir/index.html', method: 'GET',
  qop: 'auth', nc: '00000001', cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
  responses: {
    'MD5': '8ca523f5e9506fed4657c9700eebdbec',
    'SHA-256': '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
  } as Record<DigestAlgorithm, string>,
};

function input(algorithm: DigestAlgorithm, ex: typeof RFC2617 | typeof RFC7616, password = ex.password) {
  return {
    algorithm, ha1: computeHa1(algorithm, ex.username, ex.realm, password), method: ex.method,
    uri: ex.uri, nonce: ex.nonce, qop: ex.qop as string | null, nc: ex.nc as string | null,
    cnonce: ex.cnonce as string | null,
  };
}

t.test('isSupportedAlgorithm', async (t) => {
  t.ok(isSupportedAlgorithm('MD5'));
  t.ok(isSupportedAlgorithm('SHA-256'));
  for (const a of ['md5', 'MD5-sess', 'SHA-256-sess', 'SHA-512-256', 'SHA256', '']) {
    t.notOk(isSupportedAlgorithm(a), a);
  }
});

t.test('computeHa1 is the hex hash of username:realm:password', async (t) => {
  t.equal(computeHa1('MD5', 'Mufasa', 'testrealm@host.com', 'Circle Of Life'),
    createHash('md5').update('Mufasa:testrealm@host.com:Circle Of Life').digest('hex'));
  const sha = computeHa1('SHA-256', 'Mufasa', 'http-auth@example.org', 'Circle of Life');
  t.match(sha, /^[0-9a-f]{64}$/);
  t.equal(sha, createHash('sha256').update('Mufasa:http-auth@example.org:Circle of Life').digest('hex'));
  // UTF-8, not latin1, for non-ASCII passwords
  t.equal(computeHa1('MD5', 'u', 'r', 'pässword'), createHash('md5').update(Buffer.from('u:r:pässword', 'utf8')).digest('hex'));
});

t.test('RFC 2617 3.5 MD5 example', async (t) => {
  const o = input('MD5', RFC2617);
  t.equal(expectedResponse(o), RFC2617.response);
  t.ok(verifyResponse({ ...o, response: RFC2617.response }));
  t.ok(verifyResponse({ ...o, response: RFC2617.response.toUpperCase() }), 'hex case does not matter');
  t.ok(verifyResponse({ ...o, ha1: o.ha1.toUpperCase(), response: RFC2617.response }), 'stored HA1 case does not matter');
});

t.test('RFC 7616 3.9.1 examples', async (t) => {
  for (const algorithm of ['MD5', 'SHA-256'] as const) {
    const o = input(algorithm, RFC7616);
    t.equal(expectedResponse(o), RFC7616.responses[algorithm], algorithm);
    t.ok(verifyResponse({ ...o, response: RFC7616.responses[algorithm] }), algorithm);
    // the other algorithm's response is not accepted
    const other = algorithm === 'MD5' ? 'SHA-256' : 'MD5';
    t.notOk(verifyResponse({ ...o, response: RFC7616.responses[other] }), `${algorithm} rejects ${other} response`);
  }
});

t.test('wrong inputs fail verification', async (t) => {
  const o = input('SHA-256', RFC7616);
  const response = RFC7616.responses['SHA-256'];
  t.ok(verifyResponse({ ...o, response }), 'baseline');
  t.notOk(verifyResponse({ ...input('SHA-256', RFC7616, 'Circle Of Life'), response }), 'wrong password');
  t.notOk(verifyResponse({ ...o, uri: '/dir/index.htm', response }), 'wrong uri');
  t.notOk(verifyResponse({ ...o, method: 'REGISTER', response }), 'wrong method');
  t.notOk(verifyResponse({ ...o, nonce: o.nonce + 'x', response }), 'wrong nonce');
  t.notOk(verifyResponse({ ...o, nc: '00000002', response }), 'wrong nc');
  t.notOk(verifyResponse({ ...o, cnonce: 'other', response }), 'wrong cnonce');
  t.notOk(verifyResponse({ ...o, response: response.slice(0, -1) }), 'truncated response');
  t.notOk(verifyResponse({ ...o, response: response.slice(0, -1) + '0' }), 'one digit changed');
  t.notOk(verifyResponse({ ...o, response: '' }), 'empty response');
  t.notOk(verifyResponse({ ...o, ha1: '', response }), 'empty HA1 never matches');
  t.equal(verifyResponse({ ...o, ha1: null as unknown as string, response }), false, 'NULL HA1 column: false, no throw');
});

t.test('qop handling', async (t) => {
  const o = input('MD5', RFC2617);
  t.notOk(verifyResponse({ ...o, qop: 'auth-int', response: RFC2617.response }), 'auth-int refused');
  t.throws(() => expectedResponse({ ...o, qop: 'auth-int' }), 'expectedResponse refuses auth-int');
  t.notOk(verifyResponse({ ...o, qop: 'auth', nc: null, response: RFC2617.response }), 'auth without nc');
  t.notOk(verifyResponse({ ...o, qop: 'auth', cnonce: null, response: RFC2617.response }), 'auth without cnonce');

  // RFC 2069 compatibility: no qop -> H(HA1:nonce:HA2)
  const ha2 = createHash('md5').update('GET:/dir/index.html').digest('hex');
  const legacy = createHash('md5').update(`${o.ha1}:${o.nonce}:${ha2}`).digest('hex');
  const noQop = { ...o, qop: null, nc: null, cnonce: null };
  t.equal(expectedResponse(noQop), legacy);
  t.ok(verifyResponse({ ...noQop, response: legacy }));
  t.notOk(verifyResponse({ ...noQop, response: RFC2617.response }), 'qop=auth response is not a no-qop response');
  t.notOk(verifyResponse({ ...o, response: legacy }), 'no-qop response is not a qop=auth response');
});

t.test('unsupported algorithm from an untyped caller is refused, not thrown', async (t) => {
  const o = input('MD5', RFC2617);
  t.notOk(verifyResponse({ ...o, algorithm: 'MD5-sess' as DigestAlgorithm, response: RFC2617.response }));
});
