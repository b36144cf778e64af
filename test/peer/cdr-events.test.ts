/**
 * The drachtio-server peer's CDR events reach a real drachtio-srf app as drachtio-server sends them:
 * arguments, whole calls event for event (CALL_SHAPES), one app per event, round-robin.
 */
import t from 'tap';
import { CALL_SHAPES, asShape, playCall, seenEvent, type SeenEvent } from './cdr-calls';
import { timeOfDay } from './drachtio-peer';
import { buildBye, buildInvite, buildResponse } from './sip-ua';
import { type SrfApp, startPeer, startApp } from './peer-kit';

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
