// Calls through a real drachtio-server: sipp as the caller (UAC) and as the callee(s) (UAS), the test
// call app in the middle, one run per CALL_SHAPES entry (test/peer/cdr-calls.ts).
import type { Test } from 'tap';
import type { CallShape } from '../peer/cdr-calls.js';
import { freshStores, provision, type Stores } from '../helpers/harness.js';
import { startCallApp, type CallApp, type CallMode } from './call-app.js';
import { startE2eDaemon, type E2eDaemon } from './daemon.js';
import { startDrachtio, type DrachtioServer } from './drachtio-server.js';
import { describeRun, startSipp, type Sipp, type SippRun } from './sipp.js';

/** One e2e test file's world: its stores, a real drachtio-server, the built daemon(s) and the call app. */
export interface CallWorld {
  stores: Stores;
  drachtio: DrachtioServer;
  daemons: E2eDaemon[];
  app: CallApp;
  /** account_sid of each of `accounts`, in order */
  accounts: string[];
}

/** Sets the world up before the file's tests (daemons first: they create the schema) and tears it down after, each process by PID. */
export function callWorld(t: Test, bin: string, name: string, o: {
  daemons?: number; env?: Record<string, string>; accounts: Parameters<typeof provision>[1][];
}): CallWorld {
  const w = { daemons: [] as E2eDaemon[], accounts: [] as string[] } as CallWorld;
  t.before(async () => {
    w.stores = await freshStores(name);
    w.drachtio = await startDrachtio(bin);
    for (let i = 0; i < (o.daemons ?? 1); i++) w.daemons.push(await startE2eDaemon(w.stores, w.drachtio, o.env));
    for (const a of o.accounts) w.accounts.push(await provision(w.stores.pool, a));
    w.app = await startCallApp(w.drachtio, { mode: 'proxy' });
  });
  t.teardown(async () => {
    w.app?.stop();
    for (const d of w.daemons) await d.stop();
    await w.drachtio?.stop();
    await w.stores?.close();
  });
  return w;
}

interface Side { scenario: string; vars?: Record<string, string | number> }

const answer: Side = { scenario: 'uas-answer.xml' };
const busy: Side = { scenario: 'uas-reject.xml', vars: { status: 486 } };
const ring = (ringing: 0 | 1): Side => ({ scenario: 'uas-ring.xml', vars: { ringing } });
const talk: Side = { scenario: 'uac-call.xml', vars: { hold_ms: 1200 } };
const refused: Side = { scenario: 'uac-rejected.xml', vars: { status: 486 } };
const cancel = (ringing: 0 | 1): Side => ({ scenario: 'uac-cancel.xml', vars: { ringing, pause_ms: 200 } });

/** The sipp scenarios that make each shape: the callee(s), tried in turn by a proxy, and the caller. */
export const SIPP_CALLS: Record<CallShape, { mode: CallMode; callees: Side[]; caller: Side }> = {
  'proxy: answered, the caller hangs up': { mode: 'proxy', callees: [answer], caller: talk },
  'proxy: 486 from the target': { mode: 'proxy', callees: [busy], caller: refused },
  'proxy: canceled after 100': { mode: 'proxy', callees: [ring(0)], caller: cancel(0) },
  'proxy: canceled after 180': { mode: 'proxy', callees: [ring(1)], caller: cancel(1) },
  'proxy: 486 from the first target, the second answers': { mode: 'proxy', callees: [busy, answer], caller: talk },
  'b2bua: answered, the caller hangs up': { mode: 'b2bua', callees: [answer], caller: talk },
  'b2bua: 486 from the callee': { mode: 'b2bua', callees: [busy], caller: refused },
  'b2bua: canceled after 100': { mode: 'b2bua', callees: [ring(0)], caller: cancel(0) },
  'b2bua: canceled after 180': { mode: 'b2bua', callees: [ring(1)], caller: cancel(1) },
};

export interface CallRun {
  /** The caller's Call-ID (the only one of a proxied call). */
  callId: string;
  /** The Call-ID of the leg a B2BUA sent (b2bua shapes). */
  bLegCallId: string | null;
  caller: SippRun;
  callees: SippRun[];
  /** null when every sipp ended as its scenario says, else what they saw. */
  failure: string | null;
}

const callIdOf = (r: SippRun) => /^Call-ID: *(\S+)/im.exec(r.messages)?.[1] ?? '';

export interface CallParties { to: string; from: string }

/** Starts the callee(s) of `shape`, points the app at them, and places the call to `to`. */
export async function startCall(drachtio: DrachtioServer, app: CallApp, shape: CallShape, p: CallParties, caller?: Side) {
  const plan = SIPP_CALLS[shape];
  const callees: Sipp[] = [];
  for (const c of plan.callees) callees.push(await startSipp({ scenario: c.scenario, target: null, vars: c.vars }));
  app.mode = plan.mode;
  app.target = callees.map((c) => `127.0.0.1:${c.port}`);
  const side = caller ?? plan.caller;
  const uac = await startSipp({
    scenario: side.scenario, target: `127.0.0.1:${drachtio.sipPort}`, vars: { to: p.to, from: p.from, ...side.vars },
  });
  return { uac, callees, mode: plan.mode };
}

/** Runs one call of `shape` to its end. */
export async function runCall(drachtio: DrachtioServer, app: CallApp, shape: CallShape, p: CallParties): Promise<CallRun> {
  const { uac, callees, mode } = await startCall(drachtio, app, shape, p);
  const caller = await uac.done;
  // Each callee ends by itself once its call is over (-m 1); SIGUSR1 lets one still in a call finish it.
  const ended = await Promise.all(callees.map((c) => c.stop(5000)));
  const bad = [caller, ...ended].filter((r) => r.code !== 0);
  const b = mode === 'b2bua' ? callIdOf(ended[0]!) : null;
  return {
    callId: callIdOf(caller), bLegCallId: b, caller, callees: ended,
    failure: bad.length ? `${shape}: ${bad.map(describeRun).join('\n======\n')}\napp: ${app.outcomes.slice(-3).join(', ')}` : null,
  };
}

/** A sample of the daemon's /metrics (0 when absent), e.g. `('cdr_orphans_total', { kind: 'unanswered' })`. */
export async function scrapeValue(get: (path: string) => Promise<{ body: string }>, name: string, labels: Record<string, string> = {}): Promise<number> {
  const { body } = await get('/metrics');
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of body.split('\n')) {
    const m = /^sip_sidecar_(\w+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (m && m[1] === name && want.every((w) => (m[2] ?? '').split(',').includes(w))) return Number(m[3]);
  }
  return 0;
}
