/**
 * Outbound mode: drachtio-server opens a new TCP connection to the app for
 * each request (`<request-handler sip-method="…">tcp://host:port</…>`), the
 * app authenticates on connect, gets the request, answers, and is expected to
 * call srf.endSession(req), which closes the connection.
 */
import { connect } from 'node:net';
import { AppConnection, type ConnectionOwner, DEFAULT_SECRET, DEFAULT_SIP_HOSTPORTS, DEFAULT_VERSION } from './app-connection';
import type { SipResponse } from './sip';
import { type RequestMeta, ServerTransaction, UNKNOWN_TRANSACTION, localHostportFor, parseHostports } from './transaction';

export interface OutboundTarget {
  host?: string;
  port: number;
  /** the secret the server expects from the app (default 'cymru') */
  secret?: string;
  version?: string;
  sipHostports?: string;
}

export interface OutboundResult {
  response: SipResponse;
  /** the app closed the connection (srf.endSession) within closeWaitMs of its final response */
  closedByApp: boolean;
}

export interface OutboundOptions extends RequestMeta {
  /** until the final response (default 5000) */
  timeoutMs?: number;
  /** how long to wait for the app to close after its final response (default 1000) */
  closeWaitMs?: number;
}

export function sendOutbound(target: OutboundTarget, rawSip: string, opts: OutboundOptions = {}): Promise<OutboundResult> {
  const hostports = target.sipHostports ?? DEFAULT_SIP_HOSTPORTS;
  const txn = new ServerTransaction(rawSip, opts, localHostportFor(parseHostports(hostports), opts.transport ?? 'udp'));
  const socket = connect({ host: target.host ?? '127.0.0.1', port: target.port });

  return new Promise((resolve, reject) => {
    let finalResponse: SipResponse | undefined;
    let closeTimer: NodeJS.Timeout | undefined;
    let settled = false;
    const settle = (done: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(closeTimer);
      done();
      socket.destroy(); // no-op when the app already closed
    };
    const timer = setTimeout(
      () => settle(() => reject(new Error(`no final response from the app to ${txn.method} within ${opts.timeoutMs ?? 5000} ms`))),
      opts.timeoutMs ?? 5000,
    );

    const owner: ConnectionOwner = {
      secret: target.secret ?? DEFAULT_SECRET,
      authFields: [hostports, target.version ?? DEFAULT_VERSION, hostports],
      // The server routes the pending request to the connection once it authenticates.
      onAuthenticated: (conn) => conn.send(txn.deliveryBody()),
      onRoute: () => {},
      onRemoveRoute: () => {},
      onPing: () => {},
      onPoisoned: () => {},
      onSipResponse: (conn, msgId, txnId, _dialogId, raw) => {
        if (txnId !== txn.id || finalResponse) return conn.reply(msgId, 'NOK', UNKNOWN_TRANSACTION);
        const { ackBody, response, final } = txn.acceptResponse(msgId, raw);
        conn.send(ackBody);
        if (!final) return;
        finalResponse = response;
        closeTimer = setTimeout(() => settle(() => resolve({ response, closedByApp: false })), opts.closeWaitMs ?? 1000);
      },
      onClose: (conn, error) => {
        if (finalResponse) {
          const response = finalResponse;
          return settle(() => resolve({ response, closedByApp: true }));
        }
        settle(() => reject(new Error(closeReason(conn, error))));
      },
    };
    new AppConnection(socket, owner);
  });
}

function closeReason(conn: AppConnection, error: Error | undefined): string {
  if (conn.authFailed) return 'the app presented an incorrect secret';
  if (error) return `connection to the app failed: ${error.message}`;
  return conn.authenticated ? 'the app closed the connection before answering' : 'the app closed the connection before authenticating';
}
