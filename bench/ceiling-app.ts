// The REGISTER baseline: a drachtio-srf app that does nothing but answer 200. Its rate through the
// same peer and generator is the framework's ceiling, which the daemon's rate is a fraction of.
// Run as a child of the bench: DRACHTIO_PORT names the peer.
import Srf from 'drachtio-srf';

const srf = new Srf();
srf.use('register', (_req, res) => {
  res.send(200);
});
srf.on('connect', (err) => {
  if (err) {
    process.stderr.write(`ceiling app: ${err.message}\n`);
    process.exit(1);
  }
  process.stdout.write('ready\n');
});
srf.on('error', (err) => process.stderr.write(`ceiling app: ${err.message}\n`));
void srf.connect({ host: '127.0.0.1', port: Number(process.env.DRACHTIO_PORT), secret: process.env.DRACHTIO_SECRET ?? 'cymru' });
process.on('SIGTERM', () => process.exit(0));
