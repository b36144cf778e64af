import type { Migration } from './index.js';

// Column names follow jambonz where it has the same thing (accounts.disable_cdrs, clients).
export const registrar: Migration = {
  version: 1,
  name: 'accounts, clients, phone_numbers',
  up: [
    `CREATE TABLE IF NOT EXISTS accounts (
      account_sid CHAR(36) NOT NULL PRIMARY KEY COMMENT 'Account id (UUID)',
      name VARCHAR(64) NOT NULL COMMENT 'Display name of the account',
      sip_realm VARCHAR(132) NULL COMMENT 'SIP domain whose devices register to this account',
      disable_cdrs BOOLEAN NOT NULL DEFAULT 0 COMMENT 'Opted out of Call Detail Records: no CDR is stored while true',
      is_active BOOLEAN NOT NULL DEFAULT 1 COMMENT 'Inactive accounts cannot register devices',
      created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'UTC',
      UNIQUE KEY uk_accounts_sip_realm (sip_realm)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='Customer accounts'`,
    `CREATE TABLE IF NOT EXISTS clients (
      client_sid CHAR(36) NOT NULL PRIMARY KEY COMMENT 'SIP client id (UUID)',
      account_sid CHAR(36) NOT NULL COMMENT 'Owning account',
      username VARCHAR(64) NOT NULL COMMENT 'Digest username (the AOR user part)',
      ha1_md5 CHAR(32) NOT NULL COMMENT 'hex MD5(username:realm:password); the password itself is never stored',
      ha1_sha256 CHAR(64) NOT NULL COMMENT 'hex SHA-256(username:realm:password), RFC 8760',
      is_active BOOLEAN NOT NULL DEFAULT 1 COMMENT 'Inactive clients cannot register',
      UNIQUE KEY uk_clients_account_username (account_sid, username),
      CONSTRAINT fk_clients_account FOREIGN KEY (account_sid) REFERENCES accounts (account_sid) ON DELETE CASCADE
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='SIP digest credentials of devices; no plaintext password column'`,
    `CREATE TABLE IF NOT EXISTS phone_numbers (
      number VARCHAR(32) NOT NULL PRIMARY KEY COMMENT 'E.164 digits or dialled string',
      account_sid CHAR(36) NOT NULL COMMENT 'Account that owns calls to this number',
      KEY ix_phone_numbers_account (account_sid),
      CONSTRAINT fk_phone_numbers_account FOREIGN KEY (account_sid) REFERENCES accounts (account_sid) ON DELETE CASCADE
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='Numbers owned by accounts, for CDR account resolution'`,
  ],
};
