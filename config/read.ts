// Typed readers that collect problems instead of throwing, so one error can list them all.
import type { Env } from './index.js';

export interface Reader {
  readonly problems: string[];
  problem(name: string, message: string): void;
  str(name: string, dflt: string): string;
  int(name: string, dflt: number, range: { min?: number; max?: number }): number;
  port(name: string, dflt: number): number;
  optionalPort(name: string): number | null;
  url(name: string, dflt: string, protocols: string[]): string;
  match(name: string, dflt: string, re: RegExp, what: string): string;
  oneOf<T extends string>(name: string, dflt: T, allowed: readonly T[]): T;
  isSet(name: string): boolean;
  /** `host:port,host:port,…` (distinct, at least one); null when unset. */
  hostPorts(name: string): { host: string; port: number }[] | null;
  /** A comma-separated, ordered list of distinct values from `allowed`, at least one. */
  listOf<T extends string>(name: string, dflt: readonly T[], allowed: readonly T[]): readonly T[];
}

export function createReader(env: Env): Reader {
  const problems: string[] = [];
  const raw = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const problem = (name: string, message: string) => { problems.push(`${name} ${message}`); };

  const int = (name: string, dflt: number, { min = 0, max = Number.MAX_SAFE_INTEGER }: { min?: number; max?: number }) => {
    const v = raw(name);
    if (v === undefined) return dflt;
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
      problem(name, `must be a whole number from ${min} to ${max} (got "${v}")`);
      return dflt;
    }
    return Number(v);
  };

  return {
    problems,
    problem,
    str: (name, dflt) => raw(name) ?? dflt,
    int,
    port: (name, dflt) => int(name, dflt, { min: 0, max: 65535 }),
    optionalPort: (name) => (raw(name) === undefined ? null : int(name, 0, { min: 0, max: 65535 })),
    url(name, dflt, protocols) {
      const v = raw(name) ?? dflt;
      try {
        const u = new URL(v);
        if (!protocols.includes(u.protocol)) throw new Error('protocol');
        return v;
      } catch {
        // Never echo the URL: it may carry a password.
        problem(name, `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`);
        return '';
      }
    },
    match(name, dflt, re, what) {
      const v = raw(name) ?? dflt;
      if (!re.test(v)) problem(name, `must be ${what} (got "${v}")`);
      return v;
    },
    oneOf(name, dflt, allowed) {
      const v = raw(name) ?? dflt;
      if (!(allowed as readonly string[]).includes(v)) {
        problem(name, `must be one of ${allowed.join(', ')} (got "${v}")`);
        return dflt;
      }
      return v as typeof dflt;
    },
    isSet: (name) => raw(name) !== undefined,
    hostPorts(name) {
      const v = raw(name);
      if (v === undefined) return null;
      const items = v.split(',').map((s) => s.trim());
      const parsed = items.map((i) => /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):(\d{1,5})$/.exec(i));
      if (parsed.some((m) => !m || Number(m[2]) < 1 || Number(m[2]) > 65535) || new Set(items).size !== items.length) {
        problem(name, `must be a comma-separated list of distinct host:port entries (got "${v}")`);
        return null;
      }
      return parsed.map((m) => ({ host: m![1]!.replace(/^\[|\]$/g, ''), port: Number(m![2]) }));
    },
    listOf(name, dflt, allowed) {
      const v = raw(name);
      if (v === undefined) return dflt;
      const items = v.split(',').map((s) => s.trim());
      const wrong = items.filter((i) => !(allowed as readonly string[]).includes(i));
      if (wrong.length > 0 || new Set(items).size !== items.length) {
        problem(name, `must be a comma-separated list of distinct values from ${allowed.join(', ')} (got "${v}")`);
        return dflt;
      }
      return items as typeof allowed[number][];
    },
  };
}
