import type { Migration } from './index.js';

// jambonz's registration hook: an account may have its SIP users authenticated by its own HTTP service
// instead of the clients table (lib/register/hook.ts). jambonz keeps the hook in a `webhooks` row that
// accounts.registration_hook_sid points to; here the same fields sit on the account, one hook each.
const column = (name: string) =>
  `SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'accounts' AND COLUMN_NAME = '${name}'`;

export const registrationHook: Migration = {
  version: 4,
  name: 'accounts: registration hook, webhook secret',
  up: [
    {
      // One statement: InnoDB adds the columns together or not at all.
      unless: column('webhook_secret'),
      sql: `ALTER TABLE accounts
        ADD COLUMN registration_hook_url VARCHAR(1024) NULL
          COMMENT 'http(s) URL that authenticates this account''s SIP users (REGISTER digests); NULL: the clients table does',
        ADD COLUMN registration_hook_method ENUM('POST','GET') NOT NULL DEFAULT 'POST' COMMENT 'HTTP method of the registration hook',
        ADD COLUMN registration_hook_username VARCHAR(255) NULL COMMENT 'HTTP Basic user for the registration hook',
        ADD COLUMN registration_hook_password VARCHAR(255) NULL COMMENT 'HTTP Basic password for the registration hook',
        ADD COLUMN webhook_secret VARCHAR(255) NULL
          COMMENT 'Key of the HMAC-SHA256 in the Jambonz-Signature header of every request to this account''s hooks'`,
    },
  ],
};
