// HTTPS for the operators' server (Node's own https): the PEM files are read at start and again on
// SIGHUP, when the new pair replaces the old for new connections without closing the listener or the
// connections already open. A pair that does not load keeps the old one in place.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { createSecureContext } from 'node:tls';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';

export interface TlsFiles { readonly certFile: string; readonly keyFile: string }

export interface Listener {
  readonly server: http.Server;
  readonly tls: boolean;
  /** Reads the PEM files again; false (and the old pair kept) when they do not load. */
  reload(): Promise<boolean>;
}

/** A cert and key that load together, or an error saying which file and why (never their content). */
function check(pair: { cert: Buffer; key: Buffer }): { cert: Buffer; key: Buffer } {
  createSecureContext(pair); // throws on a bad PEM or a key that does not match the certificate
  return pair;
}

export function createListener(handler: http.RequestListener, files: TlsFiles | null, o: { log: Logger; metrics: Metrics }): Listener {
  if (files === null) return { server: http.createServer(handler), tls: false, reload: async () => true };
  let pair: { cert: Buffer; key: Buffer };
  try {
    pair = check({ cert: readFileSync(files.certFile), key: readFileSync(files.keyFile) });
  } catch (err) {
    throw new ConfigError([`HTTPS_CERT_FILE / HTTPS_KEY_FILE do not load as a PEM certificate and its key: ${(err as Error).message}`]);
  }
  const server = https.createServer({ ...pair, minVersion: 'TLSv1.2' }, handler);
  return {
    server,
    tls: true,
    async reload() {
      try {
        pair = check({ cert: await readFile(files.certFile), key: await readFile(files.keyFile) });
        server.setSecureContext({ ...pair, minVersion: 'TLSv1.2' });
        o.metrics.tlsReloads.inc({ result: 'ok' });
        o.log.info('HTTPS certificate and key reloaded');
        return true;
      } catch (err) {
        o.metrics.tlsReloads.inc({ result: 'failed' });
        o.log.error({ err: (err as Error).message }, 'HTTPS certificate or key did not load; the previous pair stays in use');
        return false;
      }
    },
  };
}

/** 127.0.0.0/8, ::1 and localhost: addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === '::1' || /^::ffff:127\./.test(h);
}
