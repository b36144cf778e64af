// What the admin API can ask of the stores. Each erasure answers with what it removed.
import type { Writable } from 'node:stream';
import type { AccountResolver } from '../calls/account-resolver.js';
import type { CallState } from '../calls/correlate.js';
import type { Spool } from '../calls/spool.js';
import type { ErasureKind } from '../metrics.js';
import type { BindingStore } from '../register/bindings.js';

export type ExportFormat = 'ndjson' | 'csv';

export interface ErasedCdrs { cdrs: number; spooled: number; held: number }

export interface RegistrationView {
  aor: string;
  contact: string;
  source_address: string;
  source_port: number;
  transport: string;
  user_agent: string | null;
  registered_at: string;
  expires_at: string;
}

export interface PrivacyService {
  accountExists(accountSid: string): Promise<boolean>;
  /** Streams the account's CDRs to `out` and ends it; memory does not grow with the row count. The row count. */
  exportCdrs(accountSid: string, q: { since: Date; until: Date; format: ExportFormat }, out: Writable, progress?: (rows: number) => void): Promise<number>;
  /** `held`: rows a standing legal hold covers, kept. */
  eraseCdrs(accountSid: string): Promise<ErasedCdrs>;
  eraseCdrsOfNumber(accountSid: string, number: string): Promise<ErasedCdrs>;
  /** The calls from or to any of `numbers` (spellings of one number), on every account, but held ones. */
  eraseNumberEverywhere(numbers: string[]): Promise<ErasedCdrs>;
  /** Writes one erasure_audit record about a subject already hashed. */
  record(kind: ErasureKind | 'opt_out' | 'restriction_lifted', subjectHash: string, counts: Record<string, number | boolean>): Promise<void>;
  listRegistrations(accountSid: string): Promise<RegistrationView[]>;
  eraseRegistrations(accountSid: string): Promise<{ registrations: number }>;
  setOptOut(accountSid: string, disableCdrs: boolean): Promise<void>;
  closeAccount(accountSid: string): Promise<Record<string, number>>;
}

/** The stores the privacy rights reach, each through the module that owns its keys, and no more of them. */
export interface PrivacyStores {
  bindings: Pick<BindingStore, 'listAccount' | 'removeAccount'>;
  calls: Pick<CallState, 'listInFlight' | 'discard'>;
  spool: Pick<Spool, 'erase'>;
  /** Resolves the account of a leg in flight or of a row spooled unresolved. */
  accounts: Pick<AccountResolver, 'resolve'>;
}
