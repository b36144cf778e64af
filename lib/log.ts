// The logger and the one way to mention an end user's identifier in a log line.
import { createHmac, randomBytes } from 'node:crypto';
import pino from 'pino';
import type { Config } from '../config/index.js';

export type Logger = pino.Logger;

/**
 * Secrets are always censored, whatever the level. Paths cover both header spellings
 * drachtio-srf may hand us (as sent, or lower-cased).
 */
export const REDACT_PATHS = [
  'password', '*.password', 'secret', '*.secret', 'token', '*.token',
  'nonce', '*.nonce', 'cnonce', '*.cnonce', 'response', '*.response', 'ha1', '*.ha1',
  'ha1_md5', '*.ha1_md5', 'ha1_sha256', '*.ha1_sha256',
  'authorization', '*.authorization', 'Authorization', '*.Authorization',
  'proxy-authorization', '*["proxy-authorization"]', '*["Proxy-Authorization"]',
  'headers.authorization', 'headers.Authorization',
  'url', '*.url',
];

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
