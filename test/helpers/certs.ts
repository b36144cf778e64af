// Self-signed certificates for loopback, made by openssl in a temporary folder.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Cert { certFile: string; keyFile: string; pem: string; fingerprint: string }

export async function tempDir(tag: string): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `sidecar-${tag}-`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** A P-256 certificate for CN `cn` valid for 127.0.0.1 and localhost, written as `<name>.crt` / `<name>.key` in `dir`. */
export async function makeCert(dir: string, name: string, cn = 'sidecar test'): Promise<Cert> {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile,
    '-days', '2', '-subj', `/CN=${cn}`, '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost']);
  const pem = await readFile(certFile, 'utf8');
  return { certFile, keyFile, pem, fingerprint: new X509Certificate(pem).fingerprint256 };
}
