// Normalising one CDR event: the time-of-day/midnight rule, validation, and the header allow-list,
// over messages parsed by drachtio-srf's own parser.
import Srf from 'drachtio-srf';
import t from 'tap';
import { normaliseEvent, timeOfDayToEpochMs } from '../../lib/calls/event.js';
import { sanitiseUserAgent, topViaSource, uriParts, type CdrSipMessage } from '../../lib/calls/sip.js';
import { buildInvite } from '../peer/sip-ua.js';
import { leg } from './helpers.js';

const SipMessage = (Srf as unknown as { SipMessage: new (raw: string) => CdrSipMessage }).SipMessage;
const msg = (raw: string) => new SipMessage(raw);
const at = (iso: string) => Date.parse(iso);

t.test('time of day: same day when near now', async (t) => {
  t.equal(timeOfDayToEpochMs('12:34:56.789012', at('2030-06-15T12:35:00Z')), at('2030-06-15T12:34:56.789Z'));
  t.equal(timeOfDayToEpochMs('12:34:56', at('2030-06-15T12:35:00Z')), at('2030-06-15T12:34:56.000Z'), 'fraction optional');
  t.equal(timeOfDayToEpochMs('12:34:56.5', at('2030-06-15T12:35:00Z')), at('2030-06-15T12:34:56.500Z'), 'short fraction is a decimal');
  t.equal(timeOfDayToEpochMs('00:00:00.000999', at('2030-06-15T00:00:01Z')), at('2030-06-15T00:00:00.000Z'), 'microseconds truncated to ms');
});

t.test('time of day: midnight rule picks the date nearest to now', async (t) => {
  t.equal(timeOfDayToEpochMs('23:59:59.900000', at('2030-06-16T00:00:00.100Z')), at('2030-06-15T23:59:59.900Z'),
    'stamped before midnight, received after: previous day');
  t.equal(timeOfDayToEpochMs('00:00:00.100000', at('2030-06-15T23:59:59.900Z')), at('2030-06-16T00:00:00.100Z'),
    'stamped after midnight by a clock slightly ahead: next day');
  t.equal(timeOfDayToEpochMs('23:00:00', at('2030-06-16T10:59:00Z')), at('2030-06-15T23:00:00Z'), '11h59 late: still previous day');
  t.equal(timeOfDayToEpochMs('23:00:00', at('2030-06-16T11:01:00Z')), at('2030-06-16T23:00:00Z'), 'beyond 12h it is read as later today');
  t.equal(timeOfDayToEpochMs('01:00:00', at('2030-12-31T23:30:00Z')), at('2031-01-01T01:00:00Z'), 'across a year boundary');
  t.equal(timeOfDayToEpochMs('23:59:00', at('2032-03-01T00:01:00Z')), at('2032-02-29T23:59:00Z'), 'back into a leap day');
});

t.test('time of day: unparsable values', async (t) => {
  for (const bad of ['', '24:00:00.000000', '12:60:00', '12:00:60', '1:02:03', '12:00:00.1234567', '12:00:00.', 'noon', 'x12:00:00', undefined, 5]) {
    t.equal(timeOfDayToEpochMs(bad, at('2030-06-15T12:00:00Z')), null, JSON.stringify(bad));
  }
});

t.test('attempt from the network: allow-listed facts only, X-Account-Sid ignored', async (t) => {
  const l = leg({
    fromUser: '+15550001111', fromHost: 'carrier.example', toUser: '+15559998888', toHost: 'sbc.example',
    sourceIp: '203.0.113.9', userAgent: 'Grandstream GXP2170 1.0.11.3 00:0b:82:aa:bb:cc', extraHeaders: ['X-Account-Sid: evil-account'],
  });
  const n = normaliseEvent('attempt', ['network', '10:00:00.250000', msg(l.invite)], at('2030-01-01T10:00:01Z'));
  t.same(n, {
    ok: true,
    event: {
      type: 'attempt', callId: l.callId, source: 'network', at: at('2030-01-01T10:00:00.250Z'),
      facts: {
        ruriUser: '+15559998888', ruriHost: 'sbc.example', fromUser: '+15550001111', fromHost: 'carrier.example',
        toUser: '+15559998888', remoteHost: '203.0.113.9', userAgent: 'Grandstream GXP2170', xAccountSid: null,
      },
    },
  });
  t.notMatch(JSON.stringify(n), /v=0|m=audio|evil-account|00:0b:82/, 'no body, no header outside the allow-list');
});

t.test('attempt sent by our application: X-Account-Sid trusted, far end is the Request-URI host', async (t) => {
  const invite = buildInvite({ toUser: 'bob', toHost: '198.51.100.20', fromHost: 'acme.example', extraHeaders: ['X-Account-Sid: 0f1e2d3c-aaaa-bbbb-cccc-123456789abc'] });
  const n = normaliseEvent('attempt', ['application', '10:00:00.000000', msg(invite)], at('2030-01-01T10:00:00Z'));
  t.ok(n.ok);
  if (!n.ok || n.event.type !== 'attempt') return;
  t.equal(n.event.facts.xAccountSid, '0f1e2d3c-aaaa-bbbb-cccc-123456789abc');
  t.equal(n.event.facts.remoteHost, '198.51.100.20');
});

t.test('start and stop carry role, reason and final status', async (t) => {
  const l = leg();
  const now = at('2030-01-01T10:00:00Z');
  t.match(normaliseEvent('start', ['application', '10:00:00.000000', 'uas', msg(l.ok)], now), { ok: true, event: { type: 'start', role: 'uas', status: 200 } });
  t.match(normaliseEvent('stop', ['application', '10:00:00.000000', 'call-rejected', msg(l.final(486))], now),
    { ok: true, event: { type: 'stop', reason: 'call-rejected', status: 486 } });
  t.match(normaliseEvent('stop', ['network', '10:00:00.000000', 'normal-release', msg(l.bye)], now),
    { ok: true, event: { type: 'stop', reason: 'normal-release', status: null } });
});

t.test('invalid events are refused with a reason, never thrown', async (t) => {
  const l = leg();
  const now = at('2030-01-01T10:00:00Z');
  const noCallId = l.invite.replace(/^Call-ID:.*\r\n/m, '');
  const longCallId = buildInvite({ callId: 'x'.repeat(256) });
  const cases: [string, Parameters<typeof normaliseEvent>][] = [
    ['unknown source', ['attempt', ['carrier', '10:00:00.000000', msg(l.invite)], now]],
    ['unparsable time', ['attempt', ['network', 'ten o\'clock', msg(l.invite)], now]],
    ['no SIP message', ['attempt', ['network', '10:00:00.000000', undefined], now]],
    ['missing or malformed Call-ID', ['attempt', ['network', '10:00:00.000000', msg(noCallId)], now]],
    ['missing or malformed Call-ID', ['attempt', ['network', '10:00:00.000000', msg(longCallId)], now]],
    ['attempt is not an INVITE', ['attempt', ['network', '10:00:00.000000', msg(l.ok)], now]],
    ['unknown role', ['start', ['network', '10:00:00.000000', 'b2bua', msg(l.ok)], now]],
    ['unknown termination reason', ['stop', ['network', '10:00:00.000000', 'hung-up', msg(l.bye)], now]],
    ['unparsable time', ['stop', ['network', undefined, 'normal-release', msg(l.bye)], now]],
  ];
  for (const [why, args] of cases) t.same(normaliseEvent(...args), { ok: false, why }, why);
  t.same(normaliseEvent('stop', ['network', '10:00:00', 'normal-release', { get: () => { throw new Error('boom'); } }], now),
    { ok: false, why: 'missing or malformed Call-ID' }, 'a throwing accessor is contained');
});

t.test('URI, Via and User-Agent helpers', async (t) => {
  t.same(uriParts('sip:+1555@Example.COM;user=phone'), { user: '+1555', host: 'example.com' });
  t.same(uriParts('tel:+15551234;phone-context=x'), { user: '+15551234', host: null });
  t.same(uriParts('sips:example.com'), { user: null, host: 'example.com' });
  t.equal(uriParts('http://example.com'), null);
  t.equal(topViaSource('SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bK1;rport=5062;received=203.0.113.9, SIP/2.0/UDP 1.1.1.1'), '203.0.113.9');
  t.equal(topViaSource('SIP/2.0/TCP 10.0.0.1:5062;branch=z9hG4bK1'), '10.0.0.1');
  t.equal(topViaSource('SIP/2.0/TCP [2001:db8::1]:5062;branch=z9hG4bK1'), '[2001:db8::1]');
  t.equal(sanitiseUserAgent('Bria 6.5.2 108350 extra'), 'Bria 6.5.2', 'product and version kept, serial cut');
  t.equal(sanitiseUserAgent('Zoiper rv2.10.18.5'), 'Zoiper', 'a version shaped like an IPv4 address is cut too');
  t.equal(sanitiseUserAgent('Yealink SIP-T46S 66.86.0.15 805ec0aabbcc'), 'Yealink SIP-T46S', 'IPv4-shaped version and MAC-like serial cut');
  t.equal(sanitiseUserAgent('PolycomVVX-VVX_410-UA/5.9.0.9373 alice@example.com'), 'PolycomVVX-VVX_410-UA/5.9.0.9373');
  t.equal(sanitiseUserAgent('softphone 192.168.1.20'), 'softphone');
  t.equal(sanitiseUserAgent('Linphone/5.2.0 (belle-sip/5.2.0)'), 'Linphone/5.2.0', 'stops at the first non-product token');
  t.equal(sanitiseUserAgent('Acme aa:bb:cc:dd:ee:ff'), 'Acme');
  t.equal(sanitiseUserAgent('MyPhone +15551234567'), 'MyPhone');
  t.equal(sanitiseUserAgent('"quoted" thing'), null);
});
