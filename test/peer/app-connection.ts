/**
 * The server end of one TCP connection to a drachtio-srf app, whichever side
 * opened it. Decodes frames, answers the connection-level commands
 * (authenticate, route, remove_route, ping) as drachtio-server does, and hands
 * SIP traffic to its owner.
 */
import type { Socket } from 'node:net';
import { FrameDecoder, SERVER_RECEIVE_BUFFER_BYTES, encodeFrame } from './framing';
import { responseBody } from './transaction';

export interface ConnectionOwner {
  /** the secret the app must present */
  readonly secret: string;
  /** fields after OK in the authenticate reply: sip hostports, version, local hostports */
  readonly authFields: readonly string[];
  onAuthenticated(conn: AppConnection): void;
  onRoute(conn: AppConnection, verb: string): void;
  onRemoveRoute(conn: AppConnection, verb: string): void;
  /** a SIP response from the app for transaction `txnId` */
  onSipResponse(conn: AppConnection, msgId: string, txnId: string, dialogId: string, raw: string): void;
  onPing(conn: AppConnection): void;
  onPoisoned(conn: AppConnection, frameBytes: number): void;
  onClose(conn: AppConnection, error: Error | undefined): void;
}

export const DEFAULT_SECRET = 'cymru';
export const DEFAULT_VERSION = 'v0.9.10';
export const DEFAULT_SIP_HOSTPORTS = 'udp/127.0.0.1:5060';

let nextConnectionId = 1;

export class AppConnection {
  readonly id = nextConnectionId++;
  authenticated = false;
  /** the app presented a wrong secret (the connection is then closed) */
  authFailed = false;
  tags: string[] = [];
  /** ids of network transactions waiting for this app's final response */
  readonly pendingTxns = new Set<string>();
  private readonly decoder = new FrameDecoder(SERVER_RECEIVE_BUFFER_BYTES);
  private closing = false;
  private poisonReported = false;
  private lastError: Error | undefined;

  constructor(readonly socket: Socket, private readonly owner: ConnectionOwner) {
    // What drachtio-server's setTcpKeepAlive does to every client socket.
    socket.setNoDelay(true);
    socket.setKeepAlive(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => { this.lastError = err; });
    socket.on('close', () => owner.onClose(this, this.lastError));
  }

  get poisoned(): boolean {
    return this.decoder.isPoisoned;
  }

  /** Write one frame; `cb` runs once it has been handed to the kernel. */
  send(body: string, cb?: (err?: Error | null) => void): void {
    if (this.socket.destroyed || !this.socket.writable) {
      cb?.(new Error('app connection is closed'));
      return;
    }
    this.socket.write(encodeFrame(body), cb);
  }

  reply(msgId: string, status: 'OK' | 'NO' | 'NOK', ...fields: string[]): void {
    this.send(responseBody(msgId, status, ...fields));
  }

  /** Answer, then hang up: the server's reaction to a fatal client message. */
  private rejectAndClose(msgId: string, reason: string): void {
    this.reply(msgId, 'NO', reason);
    this.closing = true;
    this.socket.end();
  }

  private onData(chunk: Buffer): void {
    let bodies: string[];
    try {
      bodies = this.decoder.push(chunk);
    } catch (err) {
      // The server drops a client that sends a bad length prefix.
      this.lastError = err as Error;
      this.socket.destroy();
      return;
    }
    for (const body of bodies) {
      if (this.closing) return;
      this.dispatch(body);
    }
    if (this.decoder.isPoisoned) this.reportPoison();
  }

  private reportPoison(): void {
    if (this.poisonReported) return;
    this.poisonReported = true;
    this.owner.onPoisoned(this, this.decoder.poisonedFrameBytes);
  }

  private dispatch(body: string): void {
    const eol = body.indexOf('\r\n');
    const leader = eol < 0 ? body : body.slice(0, eol);
    const tokens = leader.split('|');
    const msgId = tokens[0] ?? '';
    switch (tokens[1]) {
      case 'authenticate':
        return this.onAuthenticate(msgId, tokens[2] ?? '', tokens[3] ?? '');
      case 'route':
        this.owner.onRoute(this, tokens[2] ?? '');
        return this.reply(msgId, 'OK');
      case 'remove_route':
        this.owner.onRemoveRoute(this, tokens[2] ?? '');
        return this.reply(msgId, 'OK');
      case 'ping':
        this.reply(msgId, 'OK', 'pong');
        return this.owner.onPing(this);
      case 'sip':
        return this.onSip(msgId, tokens, eol < 0 ? '' : body.slice(eol + 2));
      case 'proxy':
        return this.reply(msgId, 'NOK', 'proxy is not supported by the test peer');
      default:
        return this.rejectAndClose(msgId, 'Unknown message type');
    }
  }

  private onAuthenticate(msgId: string, secret: string, tags: string): void {
    if (secret !== this.owner.secret) {
      this.authFailed = true;
      return this.rejectAndClose(msgId, 'incorrect secret');
    }
    this.tags = tags ? tags.split(',') : [];
    this.authenticated = true;
    this.reply(msgId, 'OK', ...this.owner.authFields);
    this.owner.onAuthenticated(this);
  }

  private onSip(msgId: string, tokens: string[], raw: string): void {
    const txnId = tokens[2] ?? '';
    if (!raw.startsWith('SIP/')) {
      // A request from the app (srf.request, createUAC, a BYE…): no network here.
      return this.reply(msgId, 'NOK', 'the test peer does not send requests to the network');
    }
    if (!txnId) return this.rejectAndClose(msgId, 'transaction id missing');
    this.owner.onSipResponse(this, msgId, txnId, tokens[3] ?? '', raw);
  }
}
