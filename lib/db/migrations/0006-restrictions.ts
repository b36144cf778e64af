import type { Migration } from './index.js';

// An end user's objection: no CDR from or to a restricted number, on any account. The list holds a
// keyed hash of each number (PRIVACY_HASH_KEY), not the number, so it is no register of objectors.
export const restrictions: Migration = {
  version: 6,
  name: 'restricted numbers',
  up: [
    `CREATE TABLE IF NOT EXISTS cdr_restrictions (
      number_hash CHAR(16) CHARACTER SET ascii NOT NULL PRIMARY KEY COMMENT 'Keyed hash (PRIVACY_HASH_KEY) of the number without a leading +',
      restricted_at DATETIME(3) NOT NULL COMMENT 'UTC: no CDR carries the number after this',
      created_by VARCHAR(32) NOT NULL COMMENT 'Name of the admin token'
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='Numbers whose calls produce no CDR; hashes only'`,
  ],
};
