// Inspects the live stores and reports every breach of the privacy promises:
//   binding_ttl         a binding key without TTL, or with one above the policy's hour
//   ip_outside_binding  an IP address in a Redis key or MySQL row where none may be
//                       (allowed: binding keys, call legs in flight and their spooled rows, cdrs.remote_host)
//   cdr_past_retention  a CDR attempted more than CDR_RETENTION_DAYS ago
//   cdr_while_opted_out a CDR of a leg that ended while its account had been opted out, without a
//                       break, for over OPT_OUT_GRACE_MS (the opt-out applies to legs by the moment they end)
//   sip_body_stored     SDP or a SIP message anywhere in Redis or MySQL
//   cdr_restricted_number a CDR from or to a restricted number that ended after the restriction
//                       (plus OPT_OUT_GRACE_MS)
// Rows past retention that a standing legal hold covers are no breach: the report counts them as `held`.
// Findings name where, never what: a key family and a hash, or a table and a row id.
import type { Pool } from 'mysql2/promise';
import { POLICY_MAX_IP_RETENTION_SECONDS } from '../../config/index.js';
import type { Hasher } from '../log.js';
import { AUDIT_CHECKS, type AuditCheck } from '../metrics.js';
import { scanKeys, type RedisClient } from '../redis.js';
import { accessLogIdsWithAddresses } from '../db/access-log.js';
import { cdrIdsEndedBetween, cdrIdsMatching, cdrsWithAddressLikeUsers, countCdrsBefore, streamCdrUsersEndedAfter, type CdrTable } from '../db/cdrs.js';
import { countRows } from '../db/cdrs-held.js';
import { optOutHistory } from '../db/erasure-audit.js';
import { allRows, baseTables } from '../db/tables.js';
import { allRestrictions } from '../db/restrictions.js';
import { DAY_MS } from '../time.js';
import { bareNumber, holdSet, loadHoldSet } from './holds.js';

/** A CDR may land this long after an opt-out: the resolution cache's worst case (issue: within 5 s). */
export const OPT_OUT_GRACE_MS = 5000;
const SAMPLES = 5;

const IPV4 = /(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d.])/;
// Bounded by anything but a letter, digit or colon, and holding a hex digit: "std::map" and
// "Sales :: EMEA" are not addresses.
const IPV6 = /(?<![0-9a-z:])(?=[0-9a-f:]*[0-9a-f])(?:(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}|(?:[0-9a-f]{1,4}:){0,6}[0-9a-f]{0,4}::[0-9a-f]{0,4}(?::[0-9a-f]{1,4}){0,5})(?![0-9a-z:])/i;
const SIP_BODY = /(?:^|[\r\n])v=0\r?\n|m=(?:audio|video|application|image) \d+|SIP\/2\.0[ /]/;
const SQL_SIP_BODY = '(^|[\\r\\n])v=0\\r?\\n|m=(audio|video|application|image) [0-9]+|SIP/2\\.0[ /]';

export const hasIp = (s: string) => IPV4.test(s) || IPV6.test(s);
export const hasSipBody = (s: string) => SIP_BODY.test(s);

export interface AuditReport {
  ok: boolean;
  at: string;
  /** CDR rows past retention kept because a standing legal hold covers them. */
  held: number;
  checks: Record<AuditCheck, { breaches: number; samples: string[] }>;
}

export interface AuditDeps {
  redis: RedisClient;
  pool: Pool;
  prefix: string;
  hash: Hasher;
  retentionDays: number;
  bindings: { inspect(): AsyncIterable<{ key: string; pttl: number }>; isBindingKey(key: string): boolean };
  /** Keys that may hold a far end's IP because they carry CDR data in flight. */
  isCallDataKey(key: string): boolean;
  /** The keyed hash restricted numbers are listed under (PRIVACY_HASH_KEY); null when not set. */
  restrictionHash: Hasher | null;
  now?: () => number;
}

export async function runAudit(d: AuditDeps): Promise<AuditReport> {
  const now = d.now ?? Date.now;
  const checks = Object.fromEntries(AUDIT_CHECKS.map((c) => [c, { breaches: 0, samples: [] as string[] }])) as AuditReport['checks'];
  const breach = (check: AuditCheck, where: string, n = 1) => {
    checks[check].breaches += n;
    if (checks[check].samples.length < SAMPLES) checks[check].samples.push(where);
  };
  const keyRef = (key: string) => {
    const family = key.slice(d.prefix.length).split(':').slice(0, 2).filter((p) => !/[^a-z-]/.test(p)).join(':');
    return `redis ${family || 'key'} #${d.hash(key)}`;
  };

  for await (const b of d.bindings.inspect()) {
    if (b.pttl === -1 || b.pttl > POLICY_MAX_IP_RETENTION_SECONDS * 1000) breach('binding_ttl', keyRef(b.key));
  }
  for (const key of await scanKeys(d.redis, `${d.prefix}*`)) {
    for (const text of await keyTexts(d.redis, key)) {
      if (hasSipBody(text)) { breach('sip_body_stored', keyRef(key)); break; }
    }
    if (d.bindings.isBindingKey(key) || d.isCallDataKey(key)) continue;
    for (const text of [key, ...(await keyTexts(d.redis, key))]) {
      if (hasIp(text)) { breach('ip_outside_binding', keyRef(key)); break; }
    }
  }
  const held = await auditMysql(d, now(), breach);
  return { ok: AUDIT_CHECKS.every((c) => checks[c].breaches === 0), at: new Date(now()).toISOString(), held, checks };
}

type Breach = (c: AuditCheck, where: string, n?: number) => void;

/** Tables checked column by column below rather than read whole: they hold far-end addresses (cdrs) or grow long. */
const OWN_CHECKS = new Set(['cdrs', 'cdrs_held', 'admin_access_log']);

/** Returns the count of rows past retention that a legal hold keeps. */
async function auditMysql(d: AuditDeps, now: number, breach: Breach): Promise<number> {
  const names = new Set(await baseTables(d.pool));
  for (const t of names) {
    if (OWN_CHECKS.has(t)) continue;
    (await allRows(d.pool, t)).forEach((row, i) => {
      const text = Object.values(row).filter((v) => typeof v === 'string').join('\n');
      // A registration hook's URL may name the customer's server by address: theirs, not an end user's.
      const ipText = t === 'accounts' ? Object.entries(row).filter(([k, v]) => k !== 'registration_hook_url' && typeof v === 'string').map(([, v]) => v).join('\n') : text;
      if (hasIp(ipText)) breach('ip_outside_binding', `mysql ${t} row ${i + 1}`);
      if (hasSipBody(text)) breach('sip_body_stored', `mysql ${t} row ${i + 1}`);
    });
  }
  if (names.has('admin_access_log')) {
    for (const id of await accessLogIdsWithAddresses(d.pool, 1000)) breach('ip_outside_binding', `mysql admin_access_log id=${id}`);
  }
  if (!names.has('cdrs')) return 0;

  const cutoff = new Date(now - d.retentionDays * DAY_MS);
  const holds = names.has('legal_holds') ? await loadHoldSet(d.pool, new Date(now)) : holdSet([]);
  let held = 0;
  const cdrTables: CdrTable[] = names.has('cdrs_held') ? ['cdrs', 'cdrs_held'] : ['cdrs'];
  const textCols = ['sip_callid', 'from_user', 'to_user', 'remote_host', 'user_agent', 'termination_reason'];
  for (const table of cdrTables) {
    for (const id of await cdrIdsMatching(d.pool, textCols, SQL_SIP_BODY, 1000, table)) breach('sip_body_stored', `mysql ${table} cdr_id=${id}`);
    for (const r of await cdrsWithAddressLikeUsers(d.pool, 1000, table)) {
      if (hasIp(`${r.fromUser ?? ''}\n${r.toUser ?? ''}`)) breach('ip_outside_binding', `mysql ${table} cdr_id=${r.cdrId}`);
    }
    const old = await countCdrsBefore(d.pool, cutoff, table, holds);
    if (old.n > 0) breach('cdr_past_retention', `mysql ${table} ${old.n} rows, e.g. cdr_id=${old.sample}`, old.n);
    if (holds.holds.length) held += await countRows(d.pool, table, `attempted_at < ? AND ${holds.where}`, [cutoff, ...holds.params]);
  }
  if (names.has('cdr_restrictions')) await auditRestrictions(d, cdrTables, breach);

  if (!names.has('cdr_opt_out_history')) return held;
  // Each opt-out covers the legs ending more than OPT_OUT_GRACE_MS after it and before the next
  // opt-in. The windows are worked out here from the (short) history of the accounts that ever opted
  // out, then looked up with bound parameters: no join between cdrs and tables of another collation
  // (cdrs is utf8mb4_unicode_ci, the other tables utf8mb4_general_ci), and the cdrs index serves it.
  const windows: { accountSid: string; from: number; to: number | null }[] = [];
  let open: { accountSid: string; from: number } | null = null;
  for (const h of await optOutHistory(d.pool)) {
    const accountSid = h.accountSid;
    const at = h.changedAt.getTime();
    if (open && open.accountSid !== accountSid) { windows.push({ ...open, to: null }); open = null; }
    if (h.disableCdrs) open ??= { accountSid, from: at };
    else if (open) { windows.push({ ...open, to: at }); open = null; }
  }
  if (open) windows.push({ ...open, to: null });
  let found = 0;
  for (const w of windows) {
    const from = w.from + OPT_OUT_GRACE_MS;
    // A window closed before the retention cut-off can only hold rows cdr_past_retention reports.
    if ((w.to !== null && w.to <= from) || (w.to !== null && w.to <= cutoff.getTime()) || found >= 1000) continue;
    const ids = await cdrIdsEndedBetween(d.pool, w.accountSid, new Date(from), w.to === null ? null : new Date(w.to), 1000 - found);
    for (const id of ids) breach('cdr_while_opted_out', `mysql cdrs cdr_id=${id}`);
    found += ids.length;
  }
  return held;
}

/** Each CDR (from_user, to_user) hashed as the restriction list is, for the rows that ended after the oldest restriction. */
async function auditRestrictions(d: AuditDeps, tables: CdrTable[], breach: Breach): Promise<void> {
  const list = await allRestrictions(d.pool);
  if (list.length === 0) return;
  if (d.restrictionHash === null) {
    breach('cdr_restricted_number', `${list.length} restricted number(s) cannot be checked: PRIVACY_HASH_KEY is not set`);
    return;
  }
  const since = new Map(list.map((r) => [r.numberHash, r.restrictedAt.getTime() + OPT_OUT_GRACE_MS]));
  const earliest = new Date(Math.min(...since.values()));
  const hash = d.restrictionHash;
  for (const table of tables) {
    // Streamed: this reads every row that ended after the oldest restriction, a few columns each.
    for await (const r of streamCdrUsersEndedAfter(d.pool, table, earliest)) {
      for (const user of [r.from_user, r.to_user]) {
        const after = user ? since.get(hash(bareNumber(user))) : undefined;
        if (after !== undefined && r.terminated_at.getTime() > after) { breach('cdr_restricted_number', `mysql ${table} cdr_id=${r.cdr_id}`); break; }
      }
    }
  }
}

/** Every string a key holds, whatever its type. */
async function keyTexts(redis: RedisClient, key: string): Promise<string[]> {
  switch (await redis.type(key)) {
    case 'string': return [(await redis.get(key)) ?? ''];
    case 'hash': return Object.values(await redis.hgetall(key));
    case 'list': return redis.lrange(key, 0, -1);
    case 'set': return redis.smembers(key);
    case 'zset': return redis.zrange(key, '0', '-1');
    default: return [];
  }
}

export function summarise(r: AuditReport): string {
  const lines = AUDIT_CHECKS.map((c) => {
    const x = r.checks[c];
    return `${x.breaches === 0 ? 'ok  ' : 'FAIL'} ${c}: ${x.breaches} breach(es)${x.samples.length ? ` — ${x.samples.join('; ')}` : ''}`;
  });
  const held = r.held ? `\nheld ${r.held} CDR row(s) past retention under a legal hold (not a breach)` : '';
  return `${r.ok ? 'privacy audit passed' : 'privacy audit FOUND BREACHES'} (${r.at})\n${lines.join('\n')}${held}\n`;
}
