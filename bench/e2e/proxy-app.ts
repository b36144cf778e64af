// The call app of the CDR runs: a drachtio-srf app that proxies every INVITE, record-routing, to its
// Request-URI (a sipp UAS on 127.0.0.1). drachtio-server then emits one cdr:attempt/start/stop set per
// call, which the daemon consumes (or nobody, in the baseline). Run as a child of the bench:
// DRACHTIO_PORT names drachtio-server's admin port.
import Srf from 'drachtio-srf';
import { runBenchApp } from '../lib/srf-app.js';

const srf = new Srf();
srf.invite((req) => {
  srf.proxyRequest(req, [req.uri], { recordRoute: true }, (err: Error | null) => {
    if (err) process.stderr.write(`proxy app: ${err.message}\n`);
  });
});
runBenchApp(srf, 'proxy app');
