import type { Migration } from './index.js';

// Call Detail Records, one row per finished call leg. Column names follow jambonz's CDR where it has
// the same thing. Partitioned by the UTC day of attempted_at: lib/calls/partitions.ts adds day
// partitions ahead (out of `pmax`), the retention purge drops whole days. MySQL/MariaDB require every
// unique key of a partitioned table to include the partition column, hence the composite keys, and
// allow no foreign keys on it (account_sid is not constrained; erasure deletes by account).
export const cdrs: Migration = {
  version: 2,
  name: 'cdrs (partitioned by day)',
  up: [
    `CREATE TABLE IF NOT EXISTS cdrs (
      cdr_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'Row id; unique together with attempted_at',
      account_sid CHAR(36) NOT NULL COMMENT 'Account the leg belongs to (X-Account-Sid from our application, else the number or SIP realm)',
      sip_callid VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL COMMENT 'SIP Call-ID (case-sensitive); one per leg, one per proxied call',
      direction ENUM('inbound','outbound') NOT NULL COMMENT 'inbound: the INVITE came from the network; outbound: our application sent it',
      from_user VARCHAR(128) NULL COMMENT 'User part of the From URI (calling number or user); personal data',
      to_user VARCHAR(128) NULL COMMENT 'User part of the To URI (called number or user); personal data',
      remote_host VARCHAR(255) NULL COMMENT 'Far end: packet source of an inbound INVITE, Request-URI host of an outbound one; personal data',
      attempted_at DATETIME(3) NOT NULL COMMENT 'UTC: the INVITE (earliest, for a proxied call); partition column',
      answered_at DATETIME(3) NULL COMMENT 'UTC: the 200 OK; NULL when not answered (or its event was lost)',
      terminated_at DATETIME(3) NOT NULL COMMENT 'UTC: the BYE, or the final response of an unanswered leg',
      duration INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'Whole seconds from answered_at to terminated_at, rounded down; 0 when not answered',
      answered BOOLEAN NOT NULL COMMENT 'The leg reached a 200 OK',
      sip_status SMALLINT UNSIGNED NULL COMMENT 'Final SIP status: 200 when answered, else the final response (486, 487...)',
      termination_reason VARCHAR(40) CHARACTER SET ascii NOT NULL COMMENT 'drachtio reason: normal-release, call-rejected, call-canceled, session-expired, system-initiated-termination, system-error-initiated-termination',
      role ENUM('uac','uas','proxy') NULL COMMENT 'Our part in the answered dialog: uas (we answered), uac (we called), proxy; NULL when not answered',
      user_agent VARCHAR(64) NULL COMMENT 'Product tokens of the INVITE User-Agent only (no serials, MACs or addresses)',
      created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'UTC: when the row was written',
      PRIMARY KEY (cdr_id, attempted_at),
      UNIQUE KEY uk_cdrs_callid (sip_callid, attempted_at),
      KEY ix_cdrs_account_attempted (account_sid, attempted_at),
      KEY ix_cdrs_attempted (attempted_at),
      KEY ix_cdrs_from_user (from_user, attempted_at),
      KEY ix_cdrs_to_user (to_user, attempted_at)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
      COMMENT='Call Detail Records: one row per finished call leg; never a SIP body or a header outside the allow-list; none for opted-out accounts'
      PARTITION BY RANGE COLUMNS (attempted_at) (PARTITION pmax VALUES LESS THAN (MAXVALUE))`,
  ],
};
