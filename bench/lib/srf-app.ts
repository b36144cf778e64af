// How every drachtio-srf app of the bench (the baselines, the e2e call app) runs as a child of it:
// connected to 127.0.0.1:DRACHTIO_PORT, `ready` on stdout once connected (procs.ts waits for that
// line), errors on stderr, a clean exit on SIGTERM after `onStop`.
import type Srf from 'drachtio-srf';

export function runBenchApp(srf: Srf, name: string, onStop: () => Promise<unknown> = async () => undefined): void {
  srf.on('connect', (err: Error | null) => {
    if (err) {
      process.stderr.write(`${name}: ${err.message}\n`);
      process.exit(1);
    }
    process.stdout.write('ready\n');
  });
  srf.on('error', (err: Error) => process.stderr.write(`${name}: ${err.message}\n`));
  void srf.connect({ host: '127.0.0.1', port: Number(process.env.DRACHTIO_PORT), secret: process.env.DRACHTIO_SECRET ?? 'cymru' });
  process.on('SIGTERM', () => {
    void onStop().finally(() => process.exit(0));
  });
}
