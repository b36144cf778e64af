/**
 * The drachtio-server peer's wire: frames and their codec, the time token, the Via rewrite, frames
 * byte for byte as drachtio-server writes them, an oversized frame, and the SIP builders.
 */
import t from 'tap';
import { once } from 'node:events';
import { timeOfDay } from './drachtio-peer';
import { FrameDecoder, SERVER_RECEIVE_BUFFER_BYTES, encodeFrame } from './framing';
import { joinSipMessage, rewriteTopVia, splitSipMessage } from './sip';
import { buildBye, buildInvite, buildRegister, buildResponse, digestAuthorization, parseChallenge } from './sip-ua';
import { type SrfApp, TIME, UUID, startPeer, startApp, rawClient } from './peer-kit';

t.test('frame codec', async (t) => {
  const bodies = ['id1|route|register', 'id2|sip|x|\r\nSIP/2.0 200 OK\r\nX-Name: Zoë 😀 ü\r\n\r\n', '€'];
  const wire = Buffer.from(bodies.map(encodeFrame).join(''), 'utf8');
  t.equal(encodeFrame('€'), '3#€', 'length counts bytes, not characters');

  for (let split = 0; split <= wire.length; split++) {
    const d = new FrameDecoder();
    const out = [...d.push(wire.subarray(0, split)), ...d.push(wire.subarray(split))];
    if (JSON.stringify(out) !== JSON.stringify(bodies)) t.fail(`split at byte ${split} broke decoding`);
  }
  const byteByByte = new FrameDecoder();
  const out: string[] = [];
  for (const b of wire) out.push(...byteByByte.push(Buffer.from([b])));
  t.same(out, bodies, 'one byte at a time, splitting multi-byte characters');
  t.same(new FrameDecoder().push(wire), bodies, 'several frames in one chunk');

  const limited = new FrameDecoder(100);
  const fits = 'a'.repeat(100 - 3); // "97#" + 97 bytes = 100
  const tooBig = 'b'.repeat(98); // "98#" + 98 bytes = 101
  t.same(limited.push(Buffer.from(encodeFrame(fits) + encodeFrame(tooBig) + encodeFrame('later'))), [fits], 'frames before the oversized one still arrive');
  t.equal(limited.poisonedFrameBytes, 101);
  t.same(limited.push(Buffer.from(encodeFrame('after'))), [], 'everything after is dropped');

  const framingError = { name: 'FramingError', message: /invalid message length specifier/ };
  t.throws(() => new FrameDecoder().push(Buffer.from('abc#x')), framingError);
  t.throws(() => new FrameDecoder().push(Buffer.from('123456#')), framingError, 'at most 5 length digits');
  t.throws(() => new FrameDecoder().push(Buffer.from('0#')), framingError);
  t.equal(SERVER_RECEIVE_BUFFER_BYTES, 12228);
});

t.test('timeOfDay is UTC HH:MM:SS.uuuuuu', async (t) => {
  t.equal(timeOfDay(new Date('2024-01-02T03:04:05.678Z')), '03:04:05.678000');
  t.match(timeOfDay(), TIME);
});

t.test('Via rewrite follows sofia-sip', async (t) => {
  const rewrite = (via: string, ip = '203.0.113.5', port = 6000) =>
    joinSipMessage(rewriteTopVia(splitSipMessage(`OPTIONS sip:x SIP/2.0\r\n${via}\r\n\r\n`), ip, port), false).split('\r\n')[1];
  t.equal(rewrite('Via: SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bK1'), 'Via: SIP/2.0/UDP 10.0.0.1:5060;rport=6000;branch=z9hG4bK1;received=203.0.113.5', 'bare rport filled in place');
  t.equal(rewrite('Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1;received=1.1.1.1'), 'Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1;received=203.0.113.5;rport=6000', 'stale received replaced');
  t.equal(rewrite('Via: SIP/2.0/TCP 203.0.113.5:5060;branch=z9hG4bK1'), 'Via: SIP/2.0/TCP 203.0.113.5:5060;branch=z9hG4bK1;rport=6000', 'no received when the host is the source');
  t.equal(rewrite('v: SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2'), 'v: SIP/2.0/UDP a.example.com;branch=z9hG4bK1;received=203.0.113.5;rport=6000, SIP/2.0/UDP b;branch=z9hG4bK2', 'only the top via-parm, compact name kept');
});

t.test('sendRequest refuses what it cannot model', async (t) => {
  const peer = await startPeer(t);
  await t.rejects(peer.sendRequest('ACK sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n'), /does not model ACK/);
  await t.rejects(peer.sendRequest('garbage'), /not a SIP request/);
});

t.test('raw frames match drachtio-server byte for byte', async (t) => {
  const peer = await startPeer(t);
  const app = await rawClient(t, peer.port);

  app.send('a1|authenticate|cymru|tag1,tag2');
  t.match(await app.next(), new RegExp(`^${UUID}\\|response\\|a1\\|OK\\|udp/127\\.0\\.0\\.1:5060\\|v0\\.9\\.10\\|udp/127\\.0\\.0\\.1:5060$`));
  t.equal(peer.clientCount, 1);

  app.send('r1|route|register');
  t.match(await app.next(), new RegExp(`^${UUID}\\|response\\|r1\\|OK$`));
  app.send('r2|route|register');
  await app.next();
  t.equal(peer.routesOf('register'), 2, 'duplicate routes are kept');

  const pinged = once(peer, 'ping');
  app.send('p1|ping');
  t.match(await app.next(), new RegExp(`^${UUID}\\|response\\|p1\\|OK\\|pong$`));
  await pinged;

  // A request as the app sees it.
  const register = buildRegister({ user: 'bob', domain: 'example.com', contactHost: '10.0.0.9', extraHeaders: ['X-Name: Zoë'] });
  const pending = peer.sendRequest(register, { sourceAddress: '203.0.113.5', sourcePort: 5999 });
  const frame = await app.next();
  const [leader = '', sip = ''] = frame.split(/\r\n([\s\S]*)/);
  const tokens = leader.split('|');
  t.equal(tokens.length, 13);
  t.match(tokens[0], new RegExp(`^${UUID}$`));
  t.same(tokens.slice(1, 7), ['sip', 'network', String(Buffer.byteLength(register)), 'udp', '203.0.113.5', '5999']);
  t.match(tokens[7], TIME);
  t.same(tokens.slice(9), ['', '127.0.0.1', '5060', '']);
  t.match(sip, /^Via: SIP\/2\.0\/UDP 10\.0\.0\.9:5062;branch=z9hG4bK\w+;rport=5999;received=203\.0\.113\.5\r\n/m, 'top Via rewritten like sofia');

  // The app answers without Via or To tag; the server completes both and acks.
  const txn = tokens[8];
  const callId = /^Call-ID: (.*)$/m.exec(sip)![1];
  const cseq = /^CSeq: (.*)$/m.exec(sip)![1];
  const to = /^To: (.*)$/m.exec(sip)![1];
  app.send(`s1|sip|${txn}|\r\nSIP/2.0 200 OK\r\ncall-id: ${callId}\r\ncseq: ${cseq}\r\nto: ${to}\r\nX-Name: Zoë\r\nContent-Length: 0\r\n\r\n`);
  const ack = await app.next();
  const [ackLeader = '', sent = ''] = ack.split(/\r\n([\s\S]*)/);
  const ackTokens = ackLeader.split('|');
  t.same(ackTokens.slice(1, 5), ['response', 's1', 'OK', 'application']);
  t.equal(ackTokens[5], String(Buffer.byteLength(sent)), 'byte size of the response as sent');
  t.same(ackTokens.slice(6, 9), ['udp', '203.0.113.5', '5999']);
  t.match(ackTokens[9], TIME);
  t.same(ackTokens.slice(10), [txn, '', '', 'Msg sent:', '']);
  t.match(sent, /^SIP\/2\.0 200 OK\r\nVia: SIP\/2\.0\/UDP 10\.0\.0\.9:5062;branch=\w+;rport=5999;received=203\.0\.113\.5\r\n/);
  t.match(sent, /\r\nto: <sip:bob@example\.com>;tag=\w+\r\n/);
  const response = await pending;
  t.equal(response.status, 200);
  t.equal(response.headers['x-name'], 'Zoë');

  app.send(`s2|sip|${txn}|\r\nSIP/2.0 200 OK\r\n\r\n`);
  t.match(await app.next(), /\|response\|s2\|NOK\|Response not sent due to unknown transaction$/, 'late response to a finished transaction');

  app.send('x1|remove_route|register');
  await app.next();
  t.equal(peer.routesOf('register'), 0, 'remove_route drops all of the client\'s routes');

  const closed = once(app.socket, 'close');
  app.send('u1|bogus');
  t.match(await app.next(), /\|response\|u1\|NO\|Unknown message type$/);
  await closed;
});

t.test('an oversized frame from the app poisons its connection', async (t) => {
  const peer = await startPeer(t, { requestTimeoutMs: 300 });
  let answered = 0;
  await startApp(t, peer, (srf) => srf.register((req: SrfApp, res: SrfApp) => {
    answered++;
    const size = Number(req.get('X-Pad') ?? 0);
    res.send(200, { headers: size ? { 'X-Padding': 'p'.repeat(size) } : {} });
  }));
  await peer.waitForRoutes(['register']);
  const reg = (pad: number) => buildRegister({ user: 'a', domain: 'example.com', extraHeaders: pad ? [`X-Pad: ${pad}`] : [] });

  t.equal((await peer.sendRequest(reg(11_000))).status, 200, 'an 11 KB response still fits');
  const poisoned = once(peer, 'poisoned');
  await t.rejects(peer.sendRequest(reg(13_000)), /no final response/);
  const [info] = await poisoned;
  t.ok(info.frameBytes > SERVER_RECEIVE_BUFFER_BYTES, `poisoned by a ${info.frameBytes}-byte frame`);
  await t.rejects(peer.sendRequest(reg(0)), /no final response/, 'a normal response after it is lost too');
  t.equal(answered, 3, 'the app did answer every request');
});

t.test('sip-ua helpers', async (t) => {
  // RFC 2617 §3.5 and RFC 7616 §3.9.1 worked examples.
  const rfc2617 = digestAuthorization({
    user: 'Mufasa', password: 'Circle Of Life', realm: 'testrealm@host.com', nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
    uri: '/dir/index.html', method: 'GET', qop: 'auth', nc: 1, cnonce: '0a4f113b', opaque: '5ccc069c403ebaf9f0171e9517f40e41',
  });
  t.match(rfc2617, /response="6629fae49393a05397450978507c4ef1"/);
  t.match(rfc2617, /^Digest username="Mufasa",realm="testrealm@host\.com",nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",uri="\/dir\/index\.html",response="\w+",algorithm=MD5,qop=auth,nc=00000001,cnonce="0a4f113b",opaque="5ccc069c403ebaf9f0171e9517f40e41"$/);
  const rfc7616 = { user: 'Mufasa', password: 'Circle of Life', realm: 'http-auth@example.org', nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v', uri: '/dir/index.html', method: 'GET', qop: 'auth' as const, cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ' };
  t.match(digestAuthorization({ ...rfc7616, algorithm: 'SHA-256' }), /response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",algorithm=SHA-256/);
  t.match(digestAuthorization({ ...rfc7616, algorithm: 'MD5' }), /response="8ca523f5e9506fed4657c9700eebdbec"/);
  t.match(digestAuthorization({ ...rfc7616, qop: undefined }), /^Digest [^]*,algorithm=MD5$/, 'no qop: no nc/cnonce');

  t.same(parseChallenge('Digest realm="example.com", nonce="abc,def", qop="auth,auth-int", algorithm=MD5, opaque="x\\"y", stale=FALSE'),
    { realm: 'example.com', nonce: 'abc,def', qop: 'auth,auth-int', algorithm: 'MD5', opaque: 'x"y', stale: 'FALSE' });

  const star = buildRegister({ user: 'a', domain: 'example.com', contact: '*', expires: 0 });
  t.match(star, /\r\nContact: \*\r\n/);
  t.match(star, /\r\nExpires: 0\r\n/);
  t.notMatch(buildRegister({ user: 'a', domain: 'example.com', expires: null, contactExpires: 60 }), /Expires: /);
  t.match(buildRegister({ user: 'a', domain: 'example.com', contactExpires: 60 }), /Contact: <sip:a@127\.0\.0\.1:5062>;expires=60\r\n/);

  const invite = buildInvite({ fromDisplayName: 'Zoë' });
  const [, body] = invite.split('\r\n\r\n');
  t.equal(/Content-Length: (\d+)/.exec(invite)![1], String(Buffer.byteLength(body!)));
  t.match(buildResponse(invite, 487), /^SIP\/2\.0 487 Request Terminated\r\n[^]*Content-Length: 0\r\n\r\n$/);
  const ok = buildResponse(invite, 200);
  const calleeBye = buildBye({ invite, response: ok, from: 'callee' });
  t.match(calleeBye, /^BYE sip:alice@127\.0\.0\.1:5062 SIP\/2\.0\r\n/);
  t.match(calleeBye, /\r\nCSeq: 1 BYE\r\n/);
});
