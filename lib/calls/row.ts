// A finished leg as one `cdrs` row: built from the leg's state and its stop event, carried through
// the Redis spool as JSON, and turned into SQL values by the writer. Holds allow-listed fields only.
import mysql from 'mysql2/promise';
import type { ResolutionInputs } from './accounts.js';
import type { LegRole, LegState } from './correlate.js';
import { DIALOG_ENDING_REASONS } from './event.js';
import type { LegEnd } from './outcome.js';

export const CDR_COLUMNS = [
  'account_sid', 'sip_callid', 'direction', 'from_user', 'to_user', 'remote_host', 'attempted_at', 'answered_at',
  'terminated_at', 'duration', 'answered', 'sip_status', 'termination_reason', 'role', 'user_agent', 'created_at',
] as const;

/** created_at in UTC whatever the server's time zone (CURRENT_TIMESTAMP would follow the session's). */
const NOW_UTC = mysql.raw('UTC_TIMESTAMP(3)');
export type SqlValue = string | number | null | typeof NOW_UTC;

export interface SpoolRow {
  /** format version of this JSON */
  f: 1;
  callId: string;
  /** null: MySQL could not be asked when the leg ended; the writer resolves (and applies the opt-out) before inserting. */
  accountSid: string | null;
  resolve?: ResolutionInputs;
  direction: 'inbound' | 'outbound';
  fromUser: string | null;
  toUser: string | null;
  remoteHost: string | null;
  attemptedAt: number;
  answeredAt: number | null;
  terminatedAt: number;
  duration: number;
  answered: boolean;
  sipStatus: number | null;
  reason: string;
  role: LegRole | null;
  userAgent: string | null;
}

export function resolutionInputs(s: LegState): ResolutionInputs {
  return { xAccountSid: s.facts.xAccountSid, ruriUser: s.facts.ruriUser, ruriHost: s.facts.ruriHost, fromHost: s.facts.fromHost };
}

/**
 * answered: a start was seen, or the stop ended an established dialog (a BYE) although the start went
 * missing. duration: whole seconds from answer to end, rounded down; 0 when not answered or when the
 * answer time is unknown. sip_status: the final status of the end (outcome.ts), else that of the start,
 * else 200 for a released dialog.
 */
export function buildRow(s: LegState & { attemptedAt: number }, end: LegEnd, accountSid: string | null): SpoolRow {
  const released = end.reason !== 'not-reported' && DIALOG_ENDING_REASONS.has(end.reason);
  const answered = s.answeredAt !== null || released;
  const terminatedAt = Math.max(end.at, s.attemptedAt);
  const answeredAt = s.answeredAt === null ? null : Math.min(Math.max(s.answeredAt, s.attemptedAt), terminatedAt);
  const row: SpoolRow = {
    f: 1,
    callId: s.callId,
    accountSid,
    direction: s.direction ?? (end.source === 'network' ? 'outbound' : 'inbound'),
    fromUser: s.facts.fromUser,
    toUser: s.facts.toUser,
    remoteHost: s.facts.remoteHost,
    attemptedAt: s.attemptedAt,
    answeredAt,
    terminatedAt,
    duration: answeredAt === null ? 0 : Math.floor((terminatedAt - answeredAt) / 1000),
    answered,
    sipStatus: end.status ?? s.startStatus ?? (answered ? 200 : null),
    reason: end.reason,
    role: s.role,
    userAgent: s.facts.userAgent,
  };
  if (accountSid === null) row.resolve = resolutionInputs(s);
  return row;
}

/** Parses one spooled row; null when it is not one (corrupt, or a format this version does not know). */
export function parseSpoolRow(json: string): SpoolRow | null {
  try {
    const r = JSON.parse(json) as SpoolRow;
    const ok = r && r.f === 1 && typeof r.callId === 'string' && r.callId !== '' && Number.isFinite(r.attemptedAt)
      && Number.isFinite(r.terminatedAt) && (r.direction === 'inbound' || r.direction === 'outbound') && typeof r.reason === 'string'
      && (r.accountSid !== null || (typeof r.resolve === 'object' && r.resolve !== null));
    return ok ? r : null;
  } catch {
    return null;
  }
}

const DAY = 86_400_000;
const pad2 = (n: number) => (n < 10 ? `0${n}` : `${n}`);
const pad3 = (n: number) => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`);
// The date part of the last day formatted: the writer formats three instants per row, nearly all of
// the same day, and toISOString() plus two replace() calls was the writer's largest cost.
let cachedDay = NaN;
let cachedDate = '';

/** 'YYYY-MM-DD HH:MM:SS.mmm' in UTC, what a DATETIME(3) column in a UTC session expects. */
export function sqlDateTime(ms: number): string {
  if (!Number.isInteger(ms)) return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
  const day = Math.floor(ms / DAY);
  if (day !== cachedDay) {
    cachedDay = day;
    cachedDate = new Date(day * DAY).toISOString().slice(0, 10);
  }
  let r = ms - day * DAY;
  const h = Math.floor(r / 3_600_000);
  r -= h * 3_600_000;
  const m = Math.floor(r / 60_000);
  r -= m * 60_000;
  const sec = Math.floor(r / 1000);
  return `${cachedDate} ${pad2(h)}:${pad2(m)}:${pad2(sec)}.${pad3(r - sec * 1000)}`;
}

export function toSqlValues(r: SpoolRow, accountSid: string): SqlValue[] {
  return [
    accountSid, r.callId, r.direction, r.fromUser, r.toUser, r.remoteHost, sqlDateTime(r.attemptedAt),
    r.answeredAt === null ? null : sqlDateTime(r.answeredAt), sqlDateTime(r.terminatedAt), r.duration, r.answered ? 1 : 0,
    r.sipStatus, r.reason, r.role, r.userAgent, NOW_UTC,
  ];
}
