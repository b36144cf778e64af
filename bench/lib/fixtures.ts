// What the load is made of: provisioned SIP clients and their phones (test/helpers/ua.ts, which
// reuse a nonce with an increasing nonce-count as real phones do), and call legs with SDP
// (test/calls/helpers.ts) sent as drachtio-server's cdr:attempt / cdr:start / cdr:stop.
import { randomUUID } from 'node:crypto';
import type { Pool } from 'mysql2/promise';
import { createAccountQueries } from '../../lib/db/provision.js';
import { computeHa1 } from '../../lib/register/digest.js';
import { leg } from '../../test/calls/helpers.js';
import { Device, type Send } from '../../test/helpers/ua.js';
import { timeOfDay, type DrachtioPeer, type SipResponse } from '../../test/peer/drachtio-peer.js';

export const NONCE_SECRET = 'bench-nonce-secret-0123456789abcdef';
export const DOMAIN = 'bench.example.com';
export const NUMBER = '15557770000';
const PASSWORD = 'bench-password';

/** One account owning DOMAIN and NUMBER, with `clients` SIP clients u0…u{n-1}; returns the account sid. */
export async function provisionClients(pool: Pool, clients: number, o: { realm?: string; number?: string } = {}): Promise<string> {
  const realm = o.realm ?? DOMAIN;
  const q = createAccountQueries(pool);
  const { accountSid } = await q.ensureAccount({ realm });
  await q.addNumber(accountSid, o.number ?? NUMBER);
  for (let i = 0; i < clients; i += 500) {
    const rows: unknown[][] = [];
    for (let j = i; j < Math.min(clients, i + 500); j++) {
      const user = `u${j}`;
      rows.push([randomUUID(), accountSid, user, computeHa1('MD5', user, realm, PASSWORD), computeHa1('SHA-256', user, realm, PASSWORD), 1]);
    }
    await pool.query('INSERT INTO clients (client_sid, account_sid, username, ha1_md5, ha1_sha256, is_active) VALUES ?', [rows]);
  }
  return accountSid;
}

/** Where the phones' REGISTERs go now: the daemon's peer or the baseline's. */
export interface Target { peer: DrachtioPeer }

export function phones(target: Target, n: number, realm = DOMAIN): Device[] {
  const send: Send = (raw, meta) => target.peer.sendRequest(raw, meta);
  return Array.from({ length: n }, (_, i) => new Device(send, {
    user: `u${i}`, password: PASSWORD, domain: realm,
    sourceAddress: `10.77.${(i >> 8) & 255}.${i & 255}`, sourcePort: 5060,
  }));
}

export type RegisterOutcome = 'ok' | 'stale' | `status_${number}` | 'error';

/**
 * One re-registration, as a phone sends it: the nonce it holds, the next nonce-count. A 401 (stale
 * nonce) teaches it the new nonce for its next turn, as a phone would.
 */
export async function reRegister(d: Device): Promise<RegisterOutcome> {
  let res: SipResponse;
  try {
    res = await d.once();
  } catch {
    return 'error';
  }
  if (res.status === 200) return 'ok';
  if (res.status === 401) {
    try {
      d.learn(res);
    } catch { /* no challenge: counted below */ }
    return 'stale';
  }
  return `status_${res.status}`;
}

/** A pool of phones, each with at most one REGISTER outstanding (nonce-counts must arrive in order). */
export class PhonePool {
  private readonly idle: Device[];
  constructor(devices: Device[]) {
    this.idle = [...devices];
  }
  take(): Device | undefined {
    return this.idle.shift();
  }
  give(d: Device): void {
    this.idle.push(d);
  }
  get available(): number {
    return this.idle.length;
  }
}

const TEMPLATE_ID = 'BENCHCALLIDTEMPLATE';

/**
 * An answered inbound leg (INVITE with SDP from the network to NUMBER, its 200 OK with SDP, the BYE),
 * built once; each call replaces the Call-ID. The three events drachtio-server sends for it.
 */
export function callMaker(runTag: string, o: { toUser?: string; toHost?: string } = {}) {
  const tpl = leg({
    callId: `${TEMPLATE_ID}@10.9.8.7`, fromUser: '15550001111', toUser: o.toUser ?? NUMBER, toHost: o.toHost ?? DOMAIN,
    sourceIp: '198.51.100.7', userAgent: 'BenchPhone/2.1',
  });
  let seq = 0;
  return {
    get sent() { return seq; },
    /** Sends one call's three events; resolves when they are written to the app's socket. */
    send(peer: DrachtioPeer): Promise<unknown> {
      const id = `${runTag}-${++seq}`;
      const t = timeOfDay();
      return Promise.all([
        peer.sendCdr('attempt', 'network', t, tpl.invite.replaceAll(TEMPLATE_ID, id)),
        peer.sendCdr('start', 'application', t, 'uas', tpl.ok.replaceAll(TEMPLATE_ID, id)),
        peer.sendCdr('stop', 'network', t, 'normal-release', tpl.bye.replaceAll(TEMPLATE_ID, id)),
      ]);
    },
  };
}
