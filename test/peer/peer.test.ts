/**
 * Proof that the drachtio-server peer speaks the wire protocol well enough to
 * drive a real drachtio-srf app, in both inbound and outbound mode.
 */
import t, { type Test } from 'tap';
import { once } from 'node:events';
import { type AddressInfo, type Server, createConnection } from 'node:net';
import { CALL_SHAPES, asShape, playCall, seenEvent, type SeenEvent } from './cdr-calls';
import { DrachtioPeer, type PeerOptions, sendOutbound, timeOfDay } from './drachtio-peer';
import { FrameDecoder, SERVER_RECEIVE_BUFFER_BYTES, encodeFrame } from './framing';
import { joinSipMessage, rewriteTopVia, splitSipMessage } from './sip';
import { buildBye, buildInvite, buildRegister, buildResponse, digestAuthorization, parseChallenge } from './sip-ua';

// drachtio-srf's bundled typings are thin; the tests only need it untyped.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Srf = require('drachtio-srf') as any; // eslint-disable-line @typescript-eslint/no-explicit-any
type SrfApp = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const TIME = /^\d\d:\d\d:\d\d\.\d{6}$/;
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

async function startPeer(t: Test, opts: PeerOptions = {}): Promise<DrachtioPeer> {
  const peer = await DrachtioPeer.listen(opts);
  t.teardown(() => peer.close());
  return peer;
}

/** Connect a real srf app to the peer; `setup` registers its handlers first. */
async function startApp(t: Test, peer: DrachtioPeer, setup: (srf: SrfApp) => void, opts: Record<string, unknown> = {}) {
  const srf = new Srf();
  srf.on('error', () => {}); // a dropped connection surfaces as ECONNRESET
  setup(srf);
  const connected = once(srf, 'connect');
  srf.connect({ host: '127.0.0.1', port: peer.port, secret: 'cymru', ...opts });
  const [err, hostport, version, localHostports] = await connected;
  t.teardown(() => stopApp(srf));
  return { srf, err, hostport, version, localHostports };
}

/** Disconnect without leaving srf's reconnect timer running. */
function stopApp(srf: SrfApp): void {
  const wp = srf.app.client?.wp;
  if (!wp) return;
  wp.closing = true;
  clearTimeout(wp.reconnectVars?.retryTimer);
  try {
    srf.disconnect();
  } catch {
    // no live socket left
  }
}

/** A bare TCP client speaking frames, to check bytes exactly. */
async function rawClient(t: Test, port: number) {
  const socket = createConnection(port, '127.0.0.1');
  await once(socket, 'connect');
  t.teardown(() => socket.destroy());
  const decoder = new FrameDecoder();
  const frames: string[] = [];
  const waiters: Array<(f: string) => void> = [];
  socket.on('data', (chunk: Buffer) => {
    for (const f of decoder.push(chunk)) {
      const w = waiters.shift();
      if (w) w(f);
      else frames.push(f);
    }
  });
  return {
    socket,
    send: (body: string) => socket.write(encodeFrame(body)),
    next: () => new Promise<string>((resolve) => {
      const f = frames.shift();
      if (f !== undefined) resolve(f);
      else waiters.push(resolve);
    }),
  };
}

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

t.test('srf app authenticates and routes', async (t) => {
  const peer = await startPeer(t, { sipHostports: 'udp/127.0.0.1:5060,tcp/127.0.0.1:5060' });
  const clients = once(peer, 'client');
  const { srf, err, hostport, version, localHostports } = await startApp(t, peer, (srf) => srf.register((_req: unknown, res: SrfApp) => res.send(200)));
  t.equal(err, null);
  t.equal(hostport, 'udp/127.0.0.1:5060,tcp/127.0.0.1:5060');
  t.equal(version, 'v0.9.10');
  t.equal(localHostports, 'udp/127.0.0.1:5060,tcp/127.0.0.1:5060');
  await clients;
  await peer.waitForRoutes(['register']);
  t.equal(peer.clientCount, 1);
  t.equal(peer.routesOf('register'), 1);

  // srf never marks a route as sent, so adding one after connecting re-sends them all.
  srf.invite((_req: unknown, res: SrfApp) => res.send(486));
  await peer.waitForRoutes(['invite']);
  t.equal(peer.routesOf('invite'), 1);
  t.equal(peer.routesOf('register'), 2, 'register was routed again: a duplicate, as the real server would keep it');
});

t.test('wrong secret is rejected and the connection closed', async (t) => {
  const peer = await startPeer(t);
  const closed = once(peer, 'close');
  const { err } = await startApp(t, peer, () => {}, { secret: 'not-cymru', reconnect: { maxAttempts: 1 } });
  t.match(err, { message: 'failed to authenticate to server' });
  await closed;
  t.equal(peer.clientCount, 0);
});

t.test('a request reaches the app with the server\'s metadata and the response comes back', async (t) => {
  const peer = await startPeer(t, { sipHostports: 'udp/127.0.0.1:5060,tcp/127.0.0.1:5080' });
  const seen: SrfApp[] = [];
  let acked!: (ack: { err: unknown; to: string }) => void;
  const ack = new Promise<{ err: unknown; to: string }>((resolve) => { acked = resolve; });
  await startApp(t, peer, (srf) => srf.register((req: SrfApp, res: SrfApp) => {
    seen.push(req);
    res.send(200, { headers: { Contact: req.get('Contact'), Expires: '600', 'X-Test': 'ok' } },
      (err: unknown, msg: SrfApp) => acked({ err, to: msg?.get('To') }));
  }));
  await peer.waitForRoutes(['register']);

  const register = buildRegister({ user: 'alice', domain: 'example.com', contactHost: '192.0.2.10', extraHeaders: ['X-Name: Zoë 😀'] });
  const response = await peer.sendRequest(register, { transport: 'tcp', sourceAddress: '198.51.100.7', sourcePort: 40123 });
  const req = seen[0];
  t.equal(req.source_address, '198.51.100.7');
  t.equal(req.source_port, 40123);
  t.equal(req.protocol, 'tcp');
  t.equal(req.receivedOn, '127.0.0.1:5080', 'the tcp hostport');
  t.match(req.stackTime, TIME);
  t.match(req.get('Via'), /;rport=40123;received=198\.51\.100\.7$/);
  t.equal(req.get('X-Name'), 'Zoë 😀', 'multi-byte header intact');

  t.equal(response.status, 200);
  t.equal(response.reason, 'OK');
  t.equal(response.headers['x-test'], 'ok');
  t.equal(response.headers.expires, '600');
  t.equal(response.headers.contact, '<sip:alice@192.0.2.10:5062>');
  t.match(response.headers.to, /^<sip:alice@example\.com>;tag=\w+$/, 'server added the To tag');
  t.match(response.headers.via, /received=198\.51\.100\.7/, 'server added the Via');
  t.equal(response.headers['content-length'], '0');
  t.same(await ack, { err: null, to: response.headers.to }, 'srf got the response as sent in its send callback');

  // Defaults: udp from 127.0.0.1, so no received= when the Via host matches.
  await peer.sendRequest(buildRegister({ user: 'bob', domain: 'example.com' }));
  t.equal(seen[1].protocol, 'udp');
  t.equal(seen[1].source_address, '127.0.0.1');
  t.equal(seen[1].receivedOn, '127.0.0.1:5060');
  t.match(seen[1].get('Via'), /;rport=\d+$/);
});

t.test('503 when no app routed the method; round-robin between apps', async (t) => {
  const peer = await startPeer(t);
  const invite = buildInvite();
  t.equal((await peer.sendRequest(invite)).status, 503, 'no app at all');

  const hits: string[] = [];
  for (const name of ['a', 'b']) {
    await startApp(t, peer, (srf) => srf.register((_req: unknown, res: SrfApp) => {
      hits.push(name);
      res.send(200);
    }));
  }
  await peer.waitForRoutes(['register'], { clients: 2 });
  const rejected = await peer.sendRequest(invite);
  t.equal(rejected.status, 503);
  t.equal(rejected.reason, 'Service Unavailable');
  t.match(rejected.headers.to, /;tag=/);
  t.ok(rejected.headers.via);

  for (let i = 0; i < 4; i++) await peer.sendRequest(buildRegister({ user: 'u', domain: 'example.com' }));
  t.same(hits, ['a', 'b', 'a', 'b']);
});

t.test('CDR events reach srf.on(cdr:*) with the right arguments', async (t) => {
  const peer = await startPeer(t);
  const events: Array<{ name: string; args: SrfApp[] }> = [];
  await startApp(t, peer, (srf) => {
    for (const name of ['cdr:attempt', 'cdr:start', 'cdr:stop']) srf.on(name, (...args: SrfApp[]) => events.push({ name, args }));
  });
  await peer.waitForRoutes(['cdr:attempt', 'cdr:start', 'cdr:stop']);

  const invite = buildInvite({ fromUser: '+15551230000', toUser: '+15559870000', extraHeaders: ['X-Account-Sid: AC123'] });
  const ok = buildResponse(invite, 200);
  const bye = buildBye({ invite, response: ok });
  const time = timeOfDay();
  await peer.sendCdr('attempt', 'network', time, invite);
  await peer.sendCdr('start', 'application', time, 'uas', ok);
  await peer.sendCdr('stop', 'network', time, 'normal-release', bye);
  await peer.sendCdr('stop', 'application', time, 'call-rejected', buildResponse(invite, 486));
  while (events.length < 4) await new Promise((r) => setTimeout(r, 5));

  const callId = /^Call-ID: (.*)$/m.exec(invite)![1];
  const [attempt, start, stop, rejected] = events;
  t.equal(attempt!.name, 'cdr:attempt');
  t.same(attempt!.args.slice(0, 2), ['network', time]);
  t.equal(attempt!.args.length, 3);
  t.match(attempt!.args[2].body, /^v=0\r\n[\s\S]*\r\nm=audio \d+ RTP\/AVP/, 'SDP body in msg.body');
  t.equal(attempt!.args[2].get('X-Account-Sid'), 'AC123');
  t.equal(attempt!.args[2].get('Call-ID'), callId);

  t.same(start!.args.slice(0, 3), ['application', time, 'uas']);
  t.equal(start!.args[3].status, 200);
  t.match(start!.args[3].body, /m=audio/);
  t.same(stop!.args.slice(0, 3), ['network', time, 'normal-release']);
  t.equal(stop!.args[3].method, 'BYE');
  t.equal(stop!.args[3].get('Call-ID'), callId);
  t.same(rejected!.args.slice(0, 3), ['application', time, 'call-rejected']);
  t.equal(rejected!.args[3].status, 486);
});

t.test('whole calls as the real server reports them (CALL_SHAPES) reach srf.on(cdr:*) event for event', async (t) => {
  const peer = await startPeer(t);
  const seen: SeenEvent[] = [];
  await startApp(t, peer, (srf) => {
    for (const type of ['attempt', 'start', 'stop'] as const) srf.on(`cdr:${type}`, (...args: SrfApp[]) => seen.push(seenEvent(type, args)));
  });
  await peer.waitForRoutes(['cdr:attempt', 'cdr:start', 'cdr:stop']);
  const legOf = (toUser: string) => {
    const invite = buildInvite({ toUser });
    const ok = buildResponse(invite, 200);
    return { invite, ok, bye: buildBye({ invite, response: ok }), final: (status: number) => buildResponse(invite, status) };
  };
  // The two shapes whose stops the peer used to hide: four events of a canceled proxied call, with
  // drachtio's own 487 labelled call-rejected first; a canceled B2BUA leg reported with its INVITE.
  for (const shape of ['proxy: canceled after 180', 'b2bua: canceled after 180', 'proxy: 486 from the first target, the second answers'] as const) {
    seen.length = 0;
    await playCall(peer, CALL_SHAPES[shape], { A: legOf('a'), B: legOf('b') });
    const until = Date.now() + 5000;
    while (seen.length < CALL_SHAPES[shape].length && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    t.same(asShape(seen), CALL_SHAPES[shape], shape);
  }
});

t.test('each CDR event goes to one app, round-robin per event type', async (t) => {
  const peer = await startPeer(t);
  const got: string[] = [];
  for (const name of ['a', 'b']) {
    await startApp(t, peer, (srf) => {
      for (const ev of ['attempt', 'start', 'stop']) srf.on(`cdr:${ev}`, () => got.push(`${ev}:${name}`));
    });
  }
  await peer.waitForRoutes(['cdr:attempt', 'cdr:start', 'cdr:stop'], { clients: 2 });
  const invite = buildInvite();
  const ok = buildResponse(invite, 200);
  // Wait for each event to land before the next: two sockets give no cross-connection ordering.
  const deliver = async (send: () => Promise<void>) => {
    const before = got.length;
    await send();
    while (got.length === before) await new Promise((r) => setTimeout(r, 2));
  };
  for (let i = 0; i < 4; i++) await deliver(() => peer.sendCdr('attempt', 'network', timeOfDay(), invite));
  await deliver(() => peer.sendCdr('start', 'network', timeOfDay(), 'uas', ok));
  await deliver(() => peer.sendCdr('start', 'network', timeOfDay(), 'uas', ok));
  await deliver(() => peer.sendCdr('stop', 'network', timeOfDay(), 'normal-release', buildBye({ invite, response: ok })));
  t.same(got, ['attempt:a', 'attempt:b', 'attempt:a', 'attempt:b', 'start:a', 'start:b', 'stop:a'],
    'offsets are kept per event type, so one call\'s events can land on different apps');
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

t.test('dropClients: pending requests fail, srf reconnects and routes again', async (t) => {
  const peer = await startPeer(t);
  await startApp(t, peer, (srf) => srf.register(() => { /* never answers */ }));
  await peer.waitForRoutes(['register']);
  const pending = peer.sendRequest(buildRegister({ user: 'a', domain: 'example.com' }));
  await new Promise((r) => setTimeout(r, 20));
  const closed = once(peer, 'close');
  peer.dropClients();
  await t.rejects(pending, /app connection closed before it answered/);
  await closed;
  t.equal(peer.routesOf('register'), 0);
  await peer.waitForRoutes(['register'], { timeoutMs: 3000 });
  t.equal(peer.clientCount, 1, 'srf came back on its own');
});

t.test('outbound mode: the peer connects to a listening srf app', async (t) => {
  const srf = new Srf();
  srf.register((req: SrfApp, res: SrfApp) => {
    res.send(200, { headers: { 'X-Outbound': req.protocol } });
    if (req.get('X-End-Session') === 'yes') srf.endSession(req);
  });
  const server: Server = srf.listen({ host: '127.0.0.1', port: 0, secret: 'cymru' });
  await once(server, 'listening');
  t.teardown(() => server.close());
  const port = (server.address() as AddressInfo).port;

  const ended = await sendOutbound({ port }, buildRegister({ user: 'a', domain: 'example.com', extraHeaders: ['X-End-Session: yes'] }), { transport: 'tcp' });
  t.equal(ended.response.status, 200);
  t.equal(ended.response.headers['x-outbound'], 'tcp');
  t.match(ended.response.headers.to, /;tag=/);
  t.equal(ended.closedByApp, true, 'srf.endSession closed the connection');

  const lingering = await sendOutbound({ port }, buildRegister({ user: 'a', domain: 'example.com' }), { closeWaitMs: 200 });
  t.equal(lingering.response.status, 200);
  t.equal(lingering.closedByApp, false, 'no endSession: the connection stayed open');

  await t.rejects(sendOutbound({ port, secret: 'other' }, buildRegister({ user: 'a', domain: 'example.com' })), /incorrect secret/);
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
