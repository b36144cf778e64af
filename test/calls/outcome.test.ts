// The rule for the end of a leg, on the stops drachtio-server v0.9.10 really sends (test/peer/cdr-calls.ts).
import t from 'tap';
import type { LegState } from '../../lib/calls/correlate.js';
import type { CdrEvent } from '../../lib/calls/event.js';
import { endsLeg, orphanEnd, stopEnd } from '../../lib/calls/outcome.js';

type Stop = Extract<CdrEvent, { type: 'stop' }>;
const stop = (source: 'network' | 'application', reason: Stop['reason'], status: number | null): Stop =>
  ({ type: 'stop', callId: 'c@x', source, at: 5000, reason, status });
const proxied = { fromNetwork: true };
const sentByUs = { fromNetwork: false };

t.test('a proxy target\'s final answer does not end the leg; the proxy\'s answer to the caller and every BYE do', async (t) => {
  t.notOk(endsLeg(proxied, stop('network', 'call-rejected', 486)), 'the target\'s 486 (forwarded, or the next target tried)');
  t.notOk(endsLeg(proxied, stop('network', 'call-canceled', 487)), 'the target\'s 487 after drachtio\'s own');
  t.ok(endsLeg(proxied, stop('application', 'call-rejected', 486)), 'the 486 forwarded to the caller');
  t.ok(endsLeg(proxied, stop('application', 'call-rejected', 487)), 'drachtio\'s own 487 to a canceling caller');
  t.ok(endsLeg(proxied, stop('network', 'normal-release', null)), 'a BYE from either side');
  t.ok(endsLeg(proxied, stop('network', 'call-canceled', null)), 'an inbound B2BUA leg canceled (its INVITE, no status)');
  t.ok(endsLeg(sentByUs, stop('network', 'call-rejected', 486)), 'the callee\'s answer to the leg a B2BUA sent');
});

t.test('a 487 is a canceled call, whoever labels it; a canceled leg without a status was answered 487', async (t) => {
  t.same(stopEnd(stop('application', 'call-rejected', 487)), { at: 5000, reason: 'call-canceled', status: 487, source: 'application' });
  t.same(stopEnd(stop('network', 'call-canceled', null)), { at: 5000, reason: 'call-canceled', status: 487, source: 'network' });
  t.same(stopEnd(stop('application', 'call-rejected', 486)), { at: 5000, reason: 'call-rejected', status: 486, source: 'application' });
  t.same(stopEnd(stop('network', 'normal-release', null)), { at: 5000, reason: 'normal-release', status: null, source: 'network' });
});

t.test('an orphan ends at the last moment known of it, with the last status seen', async (t) => {
  const base: LegState & { attemptedAt: number } = {
    version: '1', callId: 'c@x', direction: 'inbound', attemptedAt: 1000, answeredAt: null, role: null, startStatus: null,
    fromNetwork: true, dueAt: 2000, lastStatus: null, lastAt: null,
    facts: { ruriUser: null, ruriHost: null, fromUser: null, fromHost: null, toUser: null, remoteHost: null, userAgent: null, xAccountSid: null },
  };
  t.same(orphanEnd(base), { at: 1000, reason: 'not-reported', status: null, source: null }, 'ringing: no status');
  t.same(orphanEnd({ ...base, lastStatus: 486, lastAt: 3000 }), { at: 3000, reason: 'not-reported', status: 486, source: null }, 'a target\'s answer');
  t.same(orphanEnd({ ...base, answeredAt: 4000, startStatus: 200, role: 'uas' }), { at: 4000, reason: 'not-reported', status: 200, source: null }, 'answered');
});
