import type { Migration } from './index.js';

// Opt-out history is written by triggers, so a change made directly in the database is
// recorded as surely as one made through the admin API; the audit uses it to prove no
// CDR was stored while its account had opted out. changed_at is UTC_TIMESTAMP, like every other
// instant compared with cdrs: CURRENT_TIMESTAMP would follow the time zone of whichever session
// made the change.
export const privacy: Migration = {
  version: 3,
  name: 'opt-out history, erasure audit log',
  up: [
    `CREATE TABLE IF NOT EXISTS cdr_opt_out_history (
      id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
      account_sid CHAR(36) NOT NULL COMMENT 'Account whose opt-out changed',
      disable_cdrs BOOLEAN NOT NULL COMMENT 'The new value',
      changed_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'UTC',
      KEY ix_opt_out_account_time (account_sid, changed_at)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='Every value accounts.disable_cdrs has taken, recorded by triggers'`,
    `CREATE TRIGGER IF NOT EXISTS trg_accounts_opt_out_insert AFTER INSERT ON accounts FOR EACH ROW
      INSERT INTO cdr_opt_out_history (account_sid, disable_cdrs, changed_at) VALUES (NEW.account_sid, NEW.disable_cdrs, UTC_TIMESTAMP(3))`,
    `CREATE TRIGGER IF NOT EXISTS trg_accounts_opt_out_update AFTER UPDATE ON accounts FOR EACH ROW
      INSERT INTO cdr_opt_out_history (account_sid, disable_cdrs, changed_at)
      SELECT NEW.account_sid, NEW.disable_cdrs, UTC_TIMESTAMP(3) FROM DUAL WHERE NOT (OLD.disable_cdrs <=> NEW.disable_cdrs)`,
    `INSERT INTO cdr_opt_out_history (account_sid, disable_cdrs, changed_at)
      SELECT a.account_sid, a.disable_cdrs, a.created_at FROM accounts a
       WHERE NOT EXISTS (SELECT 1 FROM cdr_opt_out_history h WHERE h.account_sid = a.account_sid)`,
    `CREATE TABLE IF NOT EXISTS erasure_audit (
      id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
      at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'UTC',
      kind VARCHAR(32) NOT NULL COMMENT 'cdrs | cdrs_by_number | registrations | account | opt_out',
      subject_hash VARCHAR(64) NOT NULL COMMENT 'Keyed hash of the account (and number): proves which erasure happened without naming whom',
      counts JSON NOT NULL COMMENT 'What was removed, by store',
      KEY ix_erasure_audit_at (at)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='Erasures and opt-out changes made through the admin API; no personal data'`,
  ],
};
