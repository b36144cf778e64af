// The REGISTER baseline through a real drachtio-server: a drachtio-srf app that does no work of its own.
// A REGISTER without credentials gets 401 with a fixed challenge, one with credentials 200; nothing is
// verified or stored. Its clean rate is what drachtio-server and drachtio-srf allow, which the daemon's
// is a fraction of. Run as a child of the bench: DRACHTIO_PORT names drachtio-server's admin port.
import Srf from 'drachtio-srf';
import { runBenchApp } from '../lib/srf-app.js';

const CHALLENGE = 'Digest realm="bench.example.com", nonce="0123456789abcdef0123456789abcdef", qop="auth", algorithm=MD5';

const srf = new Srf();
srf.use('register', (req, res) => {
  if (!req.get('Authorization')) {
    res.send(401, { headers: { 'WWW-Authenticate': CHALLENGE } });
    return;
  }
  res.send(200, { headers: { Contact: req.get('Contact'), Expires: '3600' } });
});
runBenchApp(srf, 'null registrar');
