import type { Migration } from './index.js';

// Legal holds: CDRs a hold covers survive the retention purge, erasure and account closure while it
// stands. Rows past retention are moved out of `cdrs` into `cdrs_held` before their day partition is
// dropped, so `cdrs` keeps its 30 days and a dropped partition never takes a held row. No erasure
// touches `legal_holds` or `legal_hold_events`: who placed, lifted or disclosed what, and when, stays.
// Same collation as cdrs: the purge compares their account_sid columns.
export const legalHolds: Migration = {
  version: 5,
  name: 'legal holds, held CDRs past retention',
  up: [
    `CREATE TABLE IF NOT EXISTS legal_holds (
      hold_id CHAR(36) NOT NULL PRIMARY KEY COMMENT 'Hold id (UUID)',
      account_sid CHAR(36) NOT NULL COMMENT 'Account whose CDRs the hold covers',
      number VARCHAR(64) NULL COMMENT 'Only the calls from or to this number (without a leading +); cleared when the hold is lifted',
      number_hash CHAR(16) NULL COMMENT 'Keyed hash (LOG_HASH_KEY) of number: what stays once the hold is lifted',
      reference VARCHAR(200) NOT NULL COMMENT 'Case, order or subpoena identifier',
      until DATETIME(3) NULL COMMENT 'UTC: the hold lapses by itself then; NULL: until lifted',
      created_at DATETIME(3) NOT NULL COMMENT 'UTC',
      created_by VARCHAR(32) NOT NULL COMMENT 'Name of the admin token that placed it',
      lifted_at DATETIME(3) NULL COMMENT 'UTC; NULL while it stands',
      lifted_by VARCHAR(32) NULL COMMENT 'Name of the admin token that lifted it',
      KEY ix_legal_holds_account (account_sid),
      KEY ix_legal_holds_active (lifted_at, until)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='Legal holds on CDRs; never erased'`,
    `CREATE TABLE IF NOT EXISTS legal_hold_events (
      id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
      hold_id CHAR(36) NOT NULL COMMENT 'The hold',
      event ENUM('placed','lifted','disclosed') NOT NULL COMMENT 'placed, lifted, or its CDRs exported (a disclosure)',
      at DATETIME(3) NOT NULL COMMENT 'UTC',
      actor VARCHAR(32) NOT NULL COMMENT 'Name of the admin token',
      reference VARCHAR(200) NOT NULL COMMENT 'The hold reference at the time',
      row_count INT UNSIGNED NULL COMMENT 'disclosed: CDR rows sent',
      detail JSON NULL COMMENT 'Hashes and dates only, never a number',
      KEY ix_legal_hold_events_hold (hold_id, at)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='Every change to a legal hold and every disclosure under one; never erased'`,
    `CREATE TABLE IF NOT EXISTS cdrs_held (
      cdr_id BIGINT UNSIGNED NOT NULL PRIMARY KEY COMMENT 'The row id it had in cdrs',
      account_sid CHAR(36) NOT NULL,
      sip_callid VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      direction ENUM('inbound','outbound') NOT NULL,
      from_user VARCHAR(128) NULL,
      to_user VARCHAR(128) NULL,
      remote_host VARCHAR(255) NULL,
      attempted_at DATETIME(3) NOT NULL,
      answered_at DATETIME(3) NULL,
      terminated_at DATETIME(3) NOT NULL,
      duration INT UNSIGNED NOT NULL DEFAULT 0,
      answered BOOLEAN NOT NULL,
      sip_status SMALLINT UNSIGNED NULL,
      termination_reason VARCHAR(40) CHARACTER SET ascii NOT NULL,
      role ENUM('uac','uas','proxy') NULL,
      user_agent VARCHAR(64) NULL,
      created_at DATETIME(3) NOT NULL,
      held_at DATETIME(3) NOT NULL COMMENT 'UTC: when the purge moved it here',
      KEY ix_cdrs_held_account_attempted (account_sid, attempted_at),
      KEY ix_cdrs_held_attempted (attempted_at),
      KEY ix_cdrs_held_from_user (from_user),
      KEY ix_cdrs_held_to_user (to_user)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
      COMMENT='CDRs past retention kept only because a legal hold covers them; the purge removes each once no hold does'`,
  ],
};
