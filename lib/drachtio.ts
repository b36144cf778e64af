// Our connections to drachtio-server. This module is the one place that leans on
// drachtio-srf internals, for what its public API lacks: a prompt TCP keepalive, handing our
// routes back before a shutdown (and knowing when the server has taken them), one socket write per
// turn, and stopping the reconnect loop and the socket's reader on shutdown.
import type { Socket, Server } from 'node:net';
import Srf from 'drachtio-srf';
import type { Config } from '../config/index.js';
import type { Logger } from './log.js';
import { createOutage } from './outage.js';

export type SrfInstance = InstanceType<typeof Srf>;

interface WireInternals {
  on(event: 'connect', fn: (socket: Socket) => void): void;
  on(event: 'msg', fn: (socket: Socket, msg: string) => void): void;
  off(event: 'msg', fn: (socket: Socket, msg: string) => void): void;
  send(socket: Socket, msg: string): string;
  closing?: boolean;
  reconnectVars?: { retryTimer?: NodeJS.Timeout | null };
  mapIncomingMsg?: Map<Socket, unknown>;
}
interface AgentInternals { wp?: WireInternals; mapServer?: Map<Socket, { authenticated?: boolean }>; verbs?: Map<string, unknown> }

const agentOf = (srf: SrfInstance): AgentInternals | undefined =>
  (srf as unknown as { app?: { client?: AgentInternals } }).app?.client;

/**
 * Inbound mode: we connect to one drachtio-server's admin port and reconnect, with capped backoff, after a
 * loss. `onState` hears each change of connectedness; `server` is its index in DRACHTIO_SERVERS, for logs.
 */
export function connectInbound(
  srf: SrfInstance, target: { host: string; port: number; server: number }, config: Config['drachtio'], log: Logger, onState: (up: boolean) => void,
) {
  const where = `${target.host}:${target.port}`;
  const fields = { drachtio: where, server: target.server };
  const outage = createOutage(log, {
    lost: `drachtio-server at ${where} (DRACHTIO_SERVERS or DRACHTIO_HOST/DRACHTIO_PORT) unreachable; reconnecting`,
    restored: 'connected to drachtio-server', level: 'warn', fields,
  });
  srf.on('connect', (err: Error | null, hostport: string, version?: string) => {
    if (err) {
      onState(false);
      log.error(fields, `drachtio-server at ${where} refused authentication; check DRACHTIO_SECRET`);
      return;
    }
    onState(true);
    // One line per connection: the first, or the end of an outage.
    if (!outage.recover({ sip: hostport, version })) log.info({ ...fields, sip: hostport, version }, 'connected to drachtio-server');
  });
  const gone = (why: string) => {
    onState(false);
    outage.fail(why);
  };
  srf.on('error', (err: Error) => gone(err.message));
  (srf as unknown as { on(e: 'close', fn: () => void): void }).on('close', () => gone('connection closed'));

  (srf.connect as (o: object) => void)({
    host: target.host,
    port: target.port,
    secret: config.secret,
    enablePing: true,
    pingInterval: 15_000,
    reconnect: { retryMaxDelay: config.retryMaxDelayMs },
  });
  // drachtio-srf sets keepalive without a delay (the OS default is two hours), and
  // never checks pongs: a silently dead server would go unnoticed that long.
  agentOf(srf)?.wp?.on('connect', (socket) => socket.setKeepAlive(true, 10_000));
  coalesceWrites(agentOf(srf)?.wp);

  return {
    /**
     * Hands our routes back (`remove_route` for each verb), so that drachtio-server sends new REGISTERs and
     * CDR events to the other instances, and resolves once it has answered: every frame it sent us before
     * that has then arrived (one TCP stream, in order). v0.9.10 drops all of a client's routes at the first.
     */
    stopRouting(): Promise<void> {
      const agent = agentOf(srf);
      const wp = agent?.wp;
      const verbs = [...(agent?.verbs?.keys() ?? [])];
      const sockets = [...(agent?.mapServer ?? [])].filter(([, o]) => o.authenticated).map(([s]) => s);
      if (!wp || verbs.length === 0 || sockets.length === 0) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const pending = new Set<string>();
        const onMsg = (_s: Socket, msg: string) => {
          const [, kind, rid] = msg.split('|', 3);
          if (kind === 'response' && pending.delete(rid!) && pending.size === 0) {
            wp.off('msg', onMsg);
            resolve();
          }
        };
        wp.on('msg', onMsg);
        for (const s of sockets) for (const v of verbs) pending.add(wp.send(s, `remove_route|${v}`));
      });
    },
    disconnect() {
      const agent = agentOf(srf);
      const wp = agent?.wp;
      if (wp) {
        wp.closing = true;
        if (wp.reconnectVars?.retryTimer) clearTimeout(wp.reconnectVars.retryTimer);
      }
      // drachtio-srf ends the socket but keeps reading it with its frame buffer gone: bytes still arriving
      // would start a new buffer mid-frame and make it throw ("invalid message, missing length specifier"),
      // killing the process. Nothing read after this point would be handled anyway.
      for (const s of agent?.mapServer?.keys() ?? []) {
        s.removeAllListeners('data');
        s.resume();
      }
      // srf.disconnect() throws when no socket was ever connected.
      if (agent?.mapServer?.size) srf.disconnect();
      onState(false);
    },
  };
}

/**
 * drachtio-srf writes each frame (a response, a request) to the socket by itself: one system call each. Frames
 * sent together leave in one write instead: the socket is corked at the first and uncorked on process.nextTick
 * (Node's documented cork pattern). The answers one Redis pipeline's replies resolve are sent from promise
 * callbacks, and a nextTick queued from one runs after the microtasks queued with it, so they share the write;
 * a frame sent outside a promise callback is flushed before them, in a write of its own. Order and content are
 * unchanged either way; nothing waits for company.
 */
export function coalesceWrites(wp: Pick<WireInternals, 'send'> | undefined): void {
  if (!wp) return;
  const send = wp.send.bind(wp);
  const corked = new Set<Socket>();
  wp.send = (socket, msg) => {
    if (!corked.has(socket)) {
      corked.add(socket);
      socket.cork();
      process.nextTick(() => { corked.delete(socket); socket.uncork(); });
    }
    return send(socket, msg);
  };
}

/** Outbound mode: drachtio-server opens one connection per request to us. */
export function listenOutbound(srf: SrfInstance, config: Config['drachtio'], log: Logger): Promise<{ port: number; close(): Promise<void> }> {
  return new Promise((resolve, reject) => {
    const server = (srf.listen as (o: object) => unknown)({
      port: config.listenPort ?? 0, host: config.listenHost, secret: config.secret,
    }) as Server;
    const sockets = new Set<Socket>();
    server.on('connection', (s: Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
    server.once('error', reject);
    srf.on('error', (err: Error) => log.warn({ err: err.message }, 'outbound drachtio connection error'));
    server.once('listening', () => {
      server.off('error', reject);
      const port = (server.address() as { port: number }).port;
      log.info({ port }, 'accepting outbound connections from drachtio-server');
      resolve({
        port,
        close: () => new Promise((done) => {
          server.close(() => done());
          for (const s of sockets) s.end();
        }),
      });
    });
  });
}
