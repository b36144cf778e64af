import type { Migration } from './index.js';

// Who used the admin API for what: one row per request, kept 400 days (the retention purge), never
// erased with an account. Identifiers are keyed hashes (LOG_HASH_KEY): no number, account, token or
// client address in clear.
export const accessLog: Migration = {
  version: 7,
  name: 'admin access log',
  up: [
    `CREATE TABLE IF NOT EXISTS admin_access_log (
      id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
      at DATETIME(3) NOT NULL COMMENT 'UTC: when the request arrived',
      token_name VARCHAR(32) NULL COMMENT 'Name of the admin token used; NULL when none was valid',
      method VARCHAR(8) CHARACTER SET ascii NOT NULL,
      route VARCHAR(64) CHARACTER SET ascii NOT NULL COMMENT 'Route template, e.g. /v1/accounts/{sid}/cdrs; never a value',
      subject_hash CHAR(16) CHARACTER SET ascii NULL COMMENT 'Keyed hash of the account_sid in the path',
      number_hash CHAR(16) CHARACTER SET ascii NULL COMMENT 'Keyed hash of the number in the path or query',
      hold_id CHAR(36) CHARACTER SET ascii NULL COMMENT 'Legal hold named in the path or query',
      status SMALLINT UNSIGNED NOT NULL,
      counts JSON NULL COMMENT 'Rows exported, erased, held',
      duration_ms INT UNSIGNED NOT NULL,
      client_hash CHAR(16) CHARACTER SET ascii NOT NULL COMMENT 'Keyed hash of the client address',
      KEY ix_admin_access_log_at (at)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='Every admin API request; no personal data in clear'`,
  ],
};
