// A small drachtio-srf call application for the e2e tests (never part of lib/): it connects to the real
// drachtio-server as an inbound client of its own, routes `invite`, and either proxies each INVITE with
// Record-Route to its target(s) (sipp UASes; several: serial forking) or bridges it as a B2BUA (two
// dialogs, two Call-IDs; whichever side hangs up, the app hangs up the other).
import type Srf from 'drachtio-srf';
import type { DrachtioServer } from './drachtio-server.js';
import { connectSrf } from './srf-client.js';

export type CallMode = 'proxy' | 'b2bua';

export interface CallApp {
  mode: CallMode;
  /** host:port the next INVITEs go to; a proxy tries several in turn. */
  target: string | string[];
  /** Outcomes of the calls it handled, for failure messages: `proxy 486`, `b2bua answered`, … */
  readonly outcomes: string[];
  /** Resolves when the app is connected (again) to drachtio-server. */
  connected(timeoutMs?: number): Promise<void>;
  stop(): void;
}

type ProxyRequest = (req: Srf.SrfRequest, to: string[], opts: Srf.ProxyRequestOptions) => Promise<{ finalStatus: number }>;

export async function startCallApp(drachtio: DrachtioServer, o: { mode: CallMode; target?: string | string[] }): Promise<CallApp> {
  const outcomes: string[] = [];
  const state = { mode: o.mode, target: o.target ?? '' };
  const client = await connectSrf(drachtio, `the ${o.mode} call app`, (srf) => {
    srf.invite((req: Srf.SrfRequest, res: Srf.SrfResponse) => {
      const user = /^sips?:([^@;]+)@/.exec(req.uri)?.[1] ?? 'unknown';
      const uris = [state.target].flat().map((hostport) => `sip:${user}@${hostport}`);
      if (state.mode === 'proxy') {
        (srf.proxyRequest as unknown as ProxyRequest).call(srf, req, uris, { recordRoute: true, forking: 'sequential' }).then(
          (r) => outcomes.push(`proxy ${r.finalStatus}`),
          (err: Error) => outcomes.push(`proxy error ${err.message}`),
        );
        return;
      }
      srf.createB2BUA(req, res, uris[0]!, { localSdpB: req.body }).then(
        ({ uas, uac }) => {
          outcomes.push('b2bua answered');
          uas.on('destroy', () => uac.destroy());
          uac.on('destroy', () => uas.destroy());
        },
        (err: { status?: number; message?: string }) => outcomes.push(`b2bua ${err.status ?? err.message}`),
      );
    });
  });
  return {
    get mode() { return state.mode; },
    set mode(m) { state.mode = m; },
    get target() { return state.target; },
    set target(t) { state.target = t; },
    outcomes,
    connected: (ms) => client.connected(ms),
    stop: () => client.stop(),
  };
}
