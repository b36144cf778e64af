// The logger and the one way to mention an end user's identifier in a log line.
import { createHmac, randomBytes } from 'node:crypto';
import pino from 'pino';
import type { Config } from '../config/index.js';

export type Logger = pino.Logger;

/**
 * Keys whose value is always censored, whatever the level: credentials, digests and
 * their parts, nonces, tokens, keys, and URLs (MYSQL_URL may carry a password). Header names
 * come in both spellings drachtio-srf may hand us (as sent, or lower-cased).
 */
export const SECRET_KEYS = [
  'password', 'secret', 'token', 'access_token', 'nonce', 'cnonce', 'response', 'digest',
  'ha1', 'ha1_md5', 'ha1_sha256',
  'authorization', 'Authorization', 'proxy-authorization', 'Proxy-Authorization',
  'url', 'nonceSecret', 'hashKey',
] as const;

/**
 * Each secret key at the top of a log object, one level down (`headers.authorization`)
 * and two levels down (`req.headers.authorization`, `items[0].password`).
 */
export const REDACT_PATHS: string[] = SECRET_KEYS.flatMap((k) => {
  const plain = /^[A-Za-z_$][\w$]*$/.test(k);
  const child = plain ? `.${k}` : `["${k}"]`;
  return [plain ? k : child, `*${child}`, `*.*${child}`];
});

export function createLogger(config: Config['log'], destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level: config.level,
      base: { name: 'sip-data-sidecar' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ sync: false }),
  );
}

export type Hasher = (value: string) => string;

/**
 * A keyed hash lets operators correlate log lines about one device or number
 * without the log holding the number. Without LOG_HASH_KEY the key is random per
 * process, so hashes correlate only within one run.
 */
export function createHasher(hashKey: string): Hasher {
  const key = hashKey === '' ? randomBytes(32) : Buffer.from(hashKey);
  return (value) => createHmac('sha256', key).update(value).digest('hex').slice(0, 16);
}
