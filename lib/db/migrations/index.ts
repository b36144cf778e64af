import { registrar } from './0001-registrar.js';
import { cdrs } from './0002-cdrs.js';
import { privacy } from './0003-privacy.js';

export interface Migration {
  readonly version: number;
  readonly name: string;
  /** Statements run in order; each must be idempotent (IF NOT EXISTS and the like). */
  readonly up: readonly string[];
}

export const migrations: readonly Migration[] = [registrar, cdrs, privacy];
