// The built daemon as operators run it (`node dist/app.js`), its JSON log lines collected.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { poll } from './harness.js';

export const APP = join(__dirname, '..', '..', 'dist', 'app.js');

export interface AppProcess {
  child: ChildProcess;
  lines: Record<string, any>[];
  readonly stderr: string;
  exited: Promise<number | null>;
  /** The HTTP port it logged once listening. */
  httpPort(timeoutMs?: number): Promise<number | undefined>;
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  stop(graceMs?: number): Promise<number | null>;
}

export function runApp(env: Record<string, string>): AppProcess {
  const child = spawn(process.execPath, [APP], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let buf = '';
  const lines: Record<string, any>[] = [];
  child.stdout!.on('data', (c: Buffer) => {
    buf += c.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line) lines.push(JSON.parse(line));
    }
  });
  child.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return {
    child, lines, exited,
    get stderr() { return stderr; },
    httpPort: (timeoutMs = 15_000) => poll(() => lines.find((l) => l.msg?.startsWith('HTTP server listening'))?.port as number | undefined, timeoutMs),
    async stop(graceMs = 8000) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(killer);
      return code;
    },
  };
}
