/**
 * Proof that the drachtio-server peer drives a real drachtio-srf app, in both inbound and outbound
 * mode: authentication, requests and responses with the server's metadata, routing, reconnects.
 */
import t from 'tap';
import { once } from 'node:events';
import { type AddressInfo, type Server } from 'node:net';
import { sendOutbound } from './drachtio-peer';
import { buildInvite, buildRegister } from './sip-ua';
import { Srf, type SrfApp, TIME, startPeer, startApp } from './peer-kit';

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
