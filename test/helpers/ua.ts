// A phone, as far as registration goes: answers challenges and, like real phones,
// reuses its nonce with an increasing nonce-count until told it is stale.
import { randomBytes } from 'node:crypto';
import type { DrachtioPeer, RequestMeta, SipResponse } from '../peer/drachtio-peer.js';
import { buildRegister, digestAuthorization, parseChallenge, type RegisterOptions } from '../peer/sip-ua.js';

export type Send = (raw: string, meta: RequestMeta) => Promise<SipResponse>;

/** Each challenge in a WWW-Authenticate value (several may be joined by commas). */
export function challenges(value: string | undefined): Record<string, string>[] {
  if (!value) return [];
  return value.split(/,\s*(?=Digest\s)/i).map(parseChallenge);
}

export class Device {
  readonly callId = `${randomBytes(6).toString('hex')}@device`;
  cseq = 1;
  nonce: string | null = null;
  nc = 0;
  constructor(
    private readonly send: Send,
    readonly o: { user: string; /** the user as written in URIs, when it needs escaping */ uriUser?: string; password: string; domain: string; sourceAddress?: string; sourcePort?: number; algorithm?: 'MD5' | 'SHA-256'; transport?: 'udp' | 'tcp' },
  ) {}

  static via(peer: DrachtioPeer, o: Device['o']): Device {
    return new Device((raw, meta) => peer.sendRequest(raw, meta), o);
  }

  get meta(): RequestMeta {
    return { sourceAddress: this.o.sourceAddress ?? '127.0.0.1', sourcePort: this.o.sourcePort ?? 5062, transport: this.o.transport ?? 'udp' };
  }

  /** One REGISTER as built, with credentials when a nonce is known. */
  async once(extra: Partial<RegisterOptions> = {}, creds: { password?: string; nc?: number } = {}): Promise<SipResponse> {
    let authorization: string | undefined;
    if (this.nonce) {
      this.nc = creds.nc ?? this.nc + 1;
      authorization = digestAuthorization({
        user: this.o.user, password: creds.password ?? this.o.password, realm: this.o.domain, nonce: this.nonce,
        uri: `sip:${this.o.domain}`, algorithm: this.o.algorithm ?? 'MD5', qop: 'auth', nc: this.nc,
      });
    }
    const raw = buildRegister({
      user: this.o.uriUser ?? this.o.user, domain: this.o.domain, callId: this.callId, cseq: this.cseq++,
      contactHost: this.meta.sourceAddress, contactPort: this.meta.sourcePort, authorization, ...extra,
    });
    return this.send(raw, this.meta);
  }

  /** Registers as a phone does: send, and on 401 take the challenge and send again. */
  async register(extra: Partial<RegisterOptions> = {}, creds: { password?: string } = {}): Promise<SipResponse> {
    let res = await this.once(extra, creds);
    if (res.status === 401) {
      this.learn(res);
      res = await this.once(extra, creds);
    }
    return res;
  }

  learn(res: SipResponse): void {
    const want = this.o.algorithm ?? 'MD5';
    const c = challenges(res.headers['www-authenticate']).find((x) => (x.algorithm ?? 'MD5').toUpperCase() === want);
    if (!c) throw new Error(`no ${want} challenge in ${res.status} ${res.reason}`);
    this.nonce = c.nonce!;
    this.nc = 0;
  }
}
