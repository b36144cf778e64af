// Provisioning (npm run provision, tests, the demo): accounts, SIP clients and numbers, bound to one pool.
import { ensureAccount } from './accounts.js';
import { setClient } from './clients.js';
import type { Db } from './db.js';
import { addNumber } from './phone-numbers.js';

export interface AccountQueries {
  /** The account owning `realm`, created if missing; `disableCdrs` undefined leaves an existing account's opt-out alone. */
  ensureAccount(o: { realm: string; name?: string; accountSid?: string; disableCdrs?: boolean }): Promise<{ accountSid: string; created: boolean }>;
  /** Creates or replaces the client's digests; the password itself is not kept. */
  setClient(o: { accountSid: string; realm: string; username: string; password: string }): Promise<{ clientSid: string }>;
  addNumber(accountSid: string, number: string): Promise<void>;
}

export function createAccountQueries(db: Db): AccountQueries {
  return {
    ensureAccount: (o) => ensureAccount(db, o),
    setClient: (o) => setClient(db, o),
    addNumber: (sid, n) => addNumber(db, sid, n),
  };
}
