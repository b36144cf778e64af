import { registrar } from './0001-registrar.js';
import { cdrs } from './0002-cdrs.js';
import { privacy } from './0003-privacy.js';
import { registrationHook } from './0004-registration-hook.js';
import { legalHolds } from './0005-legal-holds.js';
import { restrictions } from './0006-restrictions.js';
import { accessLog } from './0007-access-log.js';

export interface Migration {
  readonly version: number;
  readonly name: string;
  /**
   * Statements run in order; each must be idempotent (IF NOT EXISTS and the like). Where the SQL
   * has no such clause on every server (ALTER TABLE … ADD COLUMN IF NOT EXISTS is MariaDB's only),
   * `unless` is a query that returns a row once the statement's work is done, and then it is skipped.
   */
  readonly up: readonly (string | { readonly sql: string; readonly unless: string })[];
}

export const migrations: readonly Migration[] = [registrar, cdrs, privacy, registrationHook, legalHolds, restrictions, accessLog];
