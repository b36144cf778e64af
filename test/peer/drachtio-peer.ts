/**
 * A stand-in for drachtio-server (v0.9.10) on the admin side of the wire
 * protocol, for driving a real drachtio-srf app over real TCP in tests,
 * benchmarks and demos. Frames are byte-for-byte what the server sends; see
 * /work/shared/drachtio-wire-protocol.md.
 *
 * Inbound mode (the app connects to us): DrachtioPeer.
 * Outbound mode (we connect to the app per request): sendOutbound.
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { type AddressInfo, type Server, createServer } from 'node:net';
import {
  AppConnection, type ConnectionOwner, DEFAULT_SECRET, DEFAULT_SIP_HOSTPORTS, DEFAULT_VERSION,
} from './app-connection';
import { RouteTable } from './routes';
import type { SipResponse } from './sip';
import {
  type HostPort, type RequestMeta, ServerTransaction, UNKNOWN_TRANSACTION, localHostportFor, parseHostports,
} from './transaction';

export type { SipResponse } from './sip';
export type { RequestMeta, Transport } from './transaction';
export { timeOfDay } from './transaction';
export { sendOutbound, type OutboundTarget, type OutboundResult } from './outbound';

export { DEFAULT_SECRET, DEFAULT_SIP_HOSTPORTS, DEFAULT_VERSION } from './app-connection';

export interface PeerOptions {
  host?: string;
  /** 0 (default) = ephemeral */
  port?: number;
  secret?: string;
  version?: string;
  /** csv of `<transport>/<ip>:<port>`, reported at authentication and used as each request's receivedOn */
  sipHostports?: string;
  /** third field of the authenticate reply; defaults to sipHostports */
  localHostports?: string;
  /** how long sendRequest waits for the app's final response (the real server waits 64 s) */
  requestTimeoutMs?: number;
}

export type CdrSource = 'network' | 'application';
export type CdrRole = 'uac' | 'uas' | 'proxy-uac' | 'proxy-uas';
export type CdrStopReason =
  | 'call-rejected' | 'call-canceled' | 'normal-release' | 'session-expired' | 'system-initiated-termination' | (string & {});

interface PendingRequest {
  txn: ServerTransaction;
  conn: AppConnection;
  resolve: (r: SipResponse) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Events: 'client' (conn info, an app authenticated), 'close' (an app connection
 * closed), 'ping', 'route' ({id, verb}), 'poisoned' ({id, frameBytes}).
 */
export class DrachtioPeer extends EventEmitter implements ConnectionOwner {
  readonly secret: string;
  readonly authFields: readonly string[];
  private readonly hostports: HostPort[];
  private readonly requestTimeoutMs: number;
  private readonly conns = new Set<AppConnection>();
  private readonly routes = new RouteTable<AppConnection>();
  private readonly pending = new Map<string, PendingRequest>();
  /** re-evaluated whenever routes or authentication change (waitForRoutes) */
  private readonly routeWatchers = new Set<() => void>();
  private readonly server: Server;

  private constructor(opts: PeerOptions) {
    super();
    const sipHostports = opts.sipHostports ?? DEFAULT_SIP_HOSTPORTS;
    this.secret = opts.secret ?? DEFAULT_SECRET;
    this.authFields = [sipHostports, opts.version ?? DEFAULT_VERSION, opts.localHostports ?? sipHostports];
    this.hostports = parseHostports(sipHostports);
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 5000;
    this.server = createServer((socket) => this.conns.add(new AppConnection(socket, this)));
  }

  static async listen(opts: PeerOptions = {}): Promise<DrachtioPeer> {
    const peer = new DrachtioPeer(opts);
    await new Promise<void>((resolve, reject) => {
      peer.server.once('error', reject);
      peer.server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
    });
    return peer;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** authenticated app connections */
  get clientCount(): number {
    let n = 0;
    for (const c of this.conns) if (c.authenticated) n++;
    return n;
  }

  routesOf(verb: string): number {
    return this.routes.count(verb);
  }

  /** Resolves once `clients` authenticated apps have each routed every verb. */
  waitForRoutes(verbs: string[], opts: { clients?: number; timeoutMs?: number } = {}): Promise<void> {
    const wanted = opts.clients ?? 1;
    const ready = () => {
      let n = 0;
      for (const c of this.conns) if (c.authenticated && verbs.every((v) => this.routes.has(v, c))) n++;
      return n >= wanted;
    };
    if (ready()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!ready()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${wanted} app(s) to route ${verbs.join(', ')}`));
      }, opts.timeoutMs ?? 5000);
      const cleanup = () => {
        clearTimeout(timer);
        this.routeWatchers.delete(check);
      };
      this.routeWatchers.add(check);
    });
  }

  /**
   * Deliver a request from "the network" to an app that routed its method
   * (round-robin per method) and resolve with its final response as the server
   * would send it. With no route the server answers 503 itself.
   */
  sendRequest(rawSip: string, meta: RequestMeta = {}): Promise<SipResponse> {
    let txn: ServerTransaction;
    try {
      txn = new ServerTransaction(rawSip, meta, localHostportFor(this.hostports, meta.transport ?? 'udp'));
    } catch (err) {
      return Promise.reject(err);
    }
    // The real server's stack handles these inside INVITE transactions/dialogs; none get a response here.
    if (txn.method === 'ACK' || txn.method === 'CANCEL') {
      return Promise.reject(new Error(`the test peer does not model ${txn.method}`));
    }
    const conn = this.routes.select(txn.method.toLowerCase());
    if (!conn) return Promise.resolve(txn.localResponse(503, 'Service Unavailable'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.forget(txn.id);
        reject(new Error(`no final response from the app to ${txn.method} within ${this.requestTimeoutMs} ms`));
      }, this.requestTimeoutMs);
      this.pending.set(txn.id, { txn, conn, resolve, reject, timer });
      conn.pendingTxns.add(txn.id);
      conn.send(txn.deliveryBody());
    });
  }

  /** Send one CDR event to ONE app subscribed to `cdr:<event>`, round-robin; dropped if none, like the server. */
  sendCdr(event: 'attempt', source: CdrSource, time: string, rawSip: string): Promise<void>;
  sendCdr(event: 'start', source: CdrSource, time: string, role: CdrRole, rawSip: string): Promise<void>;
  sendCdr(event: 'stop', source: CdrSource, time: string, reason: CdrStopReason, rawSip: string): Promise<void>;
  sendCdr(event: 'attempt' | 'start' | 'stop', source: CdrSource, time: string, extraOrSip: string, rawSip?: string): Promise<void> {
    const meta = event === 'attempt' ? `cdr:attempt|${source}|${time}` : `cdr:${event}|${source}|${time}|${extraOrSip}`;
    const msg = event === 'attempt' ? extraOrSip : rawSip ?? '';
    const conn = this.routes.select(`cdr:${event}`);
    if (!conn) return Promise.resolve();
    return new Promise((resolve, reject) => {
      conn.send(`${randomUUID()}|${meta}\r\n${msg}`, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Destroy every app socket, as a server crash would. */
  dropClients(): void {
    for (const c of this.conns) c.socket.destroy();
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.dropClients();
    for (const id of [...this.pending.keys()]) this.fail(id, new Error('peer closed'));
    await closed;
  }

  // ConnectionOwner callbacks

  onAuthenticated(conn: AppConnection): void {
    this.emit('client', { id: conn.id, remoteAddress: conn.socket.remoteAddress, remotePort: conn.socket.remotePort, tags: conn.tags });
    this.notifyRouteWatchers();
  }

  onRoute(conn: AppConnection, verb: string): void {
    this.routes.add(verb, conn);
    this.emit('route', { id: conn.id, verb });
    this.notifyRouteWatchers();
  }

  onRemoveRoute(conn: AppConnection): void {
    this.routes.removeClient(conn);
  }

  onPing(conn: AppConnection): void {
    this.emit('ping', { id: conn.id });
  }

  onPoisoned(conn: AppConnection, frameBytes: number): void {
    this.emit('poisoned', { id: conn.id, frameBytes });
  }

  onSipResponse(conn: AppConnection, msgId: string, txnId: string, _dialogId: string, raw: string): void {
    const p = this.pending.get(txnId);
    if (!p) return conn.reply(msgId, 'NOK', UNKNOWN_TRANSACTION);
    const { ackBody, response, final } = p.txn.acceptResponse(msgId, raw);
    conn.send(ackBody);
    if (!final) return;
    this.forget(txnId);
    p.resolve(response);
  }

  onClose(conn: AppConnection, error: Error | undefined): void {
    this.conns.delete(conn);
    this.routes.removeClient(conn);
    // No app will answer these; fail fast rather than at the timeout.
    for (const id of [...conn.pendingTxns]) this.fail(id, new Error(`app connection closed before it answered${error ? ` (${error.message})` : ''}`));
    this.emit('close', { id: conn.id });
  }

  private notifyRouteWatchers(): void {
    for (const check of [...this.routeWatchers]) check();
  }

  private forget(txnId: string): PendingRequest | undefined {
    const p = this.pending.get(txnId);
    if (!p) return undefined;
    clearTimeout(p.timer);
    this.pending.delete(txnId);
    p.conn.pendingTxns.delete(txnId);
    return p;
  }

  private fail(txnId: string, err: Error): void {
    this.forget(txnId)?.reject(err);
  }
}
