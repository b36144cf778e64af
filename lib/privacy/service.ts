// What the admin API can ask of the stores. Each erasure answers with what it removed.
import type { Writable } from 'node:stream';

export type ExportFormat = 'ndjson' | 'csv';

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
  /** Streams the account's CDRs to `out` and ends it; memory does not grow with the row count. */
  exportCdrs(accountSid: string, q: { since: Date; until: Date; format: ExportFormat }, out: Writable): Promise<void>;
  eraseCdrs(accountSid: string): Promise<{ cdrs: number; spooled: number }>;
  eraseCdrsOfNumber(accountSid: string, number: string): Promise<{ cdrs: number; spooled: number }>;
  listRegistrations(accountSid: string): Promise<RegistrationView[]>;
  eraseRegistrations(accountSid: string): Promise<{ registrations: number }>;
  setOptOut(accountSid: string, disableCdrs: boolean): Promise<void>;
  closeAccount(accountSid: string): Promise<Record<string, number>>;
}
