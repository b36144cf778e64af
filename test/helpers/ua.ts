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
    readonly o: {
      user: string; /** the user as written in URIs, when it needs escaping */ uriUser?: string; password: string; domain: string;
      sourceAddress?: string; sourcePort?: number; transport?: 'udp' | 'tcp';
      /** Set: a phone that knows both and picks this one. Unset: an MD5-only phone that, like sipp, answers the first challenge. */
      algorithm?: 'MD5' | 'SHA-256';
      /** The digest `uri`; default, as sipp does, the server's address rather than the Request-URI. */
      digestUri?: string;
    },
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
        uri: this.o.digestUri ?? 'sip:127.0.0.1:5060', algorithm: this.o.algorithm ?? 'MD5', qop: 'auth', nc: this.nc,
      });
    }
    const raw = buildRegister({
      user: this.o.uriUser ?? this.o.user, domain: this.o.domain, callId: this.callId, cseq: this.cseq++,
      contactHost: this.meta.sourceAddress, contactPort: this.meta.sourcePort, authorization,
      transport: this.o.transport === 'tcp' ? 'TCP' : 'UDP', ...extra,
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
    const offered = challenges(res.headers['www-authenticate']);
    const c = this.o.algorithm
      ? offered.find((x) => (x.algorithm ?? 'MD5').toUpperCase() === this.o.algorithm)
      : offered[0];
    if (!c) throw new Error(`no ${this.o.algorithm ?? ''} challenge in ${res.status} ${res.reason}`);
    if (!this.o.algorithm && (c.algorithm ?? 'MD5').toUpperCase() !== 'MD5') {
      throw new Error(`an MD5-only phone cannot answer a first challenge with algorithm=${c.algorithm} (sipp: "authentication must use MD5")`);
    }
    this.nonce = c.nonce!;
    this.nc = 0;
  }
}
