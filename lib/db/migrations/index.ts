import { registrar } from './0001-registrar.js';
import { cdrs } from './0002-cdrs.js';
import { privacy } from './0003-privacy.js';
import { legalHolds } from './0005-legal-holds.js';
import { restrictions } from './0006-restrictions.js';
import { accessLog } from './0007-access-log.js';

export interface Migration {
  readonly version: number;
  readonly name: string;
  /** Statements run in order; each must be idempotent (IF NOT EXISTS and the like). */
  readonly up: readonly string[];
}

export const migrations: readonly Migration[] = [registrar, cdrs, privacy, legalHolds, restrictions, accessLog];
