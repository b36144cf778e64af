// The REGISTER baseline: a drachtio-srf app that does nothing but answer 200. Its rate through the
// same peer and generator is the framework's ceiling, which the daemon's rate is a fraction of.
// Run as a child of the bench: DRACHTIO_PORT names the peer.
import Srf from 'drachtio-srf';
import { runBenchApp } from './lib/srf-app.js';

const srf = new Srf();
srf.use('register', (_req, res) => {
  res.send(200);
});
runBenchApp(srf, 'ceiling app');
