// Our connections to drachtio-server. This module is the one place that leans on
// drachtio-srf internals, for what its public API lacks: a prompt TCP keepalive, handing our
// routes back before a shutdown (and knowing when the server has taken them), and stopping the
// reconnect loop and the socket's reader on shutdown.
import type { Socket, Server } from 'node:net';
import Srf from 'drachtio-srf';
import type { Config } from '../config/index.js';
import type { Logger } from './log.js';

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
  let lost = false;
  srf.on('connect', (err: Error | null, hostport: string, version?: string) => {
    if (err) {
      onState(false);
      log.error({ drachtio: where, server: target.server }, `drachtio-server at ${where} refused authentication; check DRACHTIO_SECRET`);
      return;
    }
    lost = false;
    onState(true);
    log.info({ drachtio: where, server: target.server, sip: hostport, version }, 'connected to drachtio-server');
  });
  const gone = (why: string) => {
    onState(false);
    if (lost) return;
    lost = true;
    log.warn({ drachtio: where, server: target.server, err: why }, `drachtio-server at ${where} (DRACHTIO_SERVERS or DRACHTIO_HOST/DRACHTIO_PORT) unreachable; reconnecting`);
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
