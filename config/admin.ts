// The admin API's tokens: ADMIN_TOKENS (`name:scope[+scope…]:token`, comma-separated) and the older
// single ADMIN_TOKEN, which stays valid as one all-scope token named `default`. Several tokens may be
// valid at once, so one can be replaced without downtime. Problems name the entry, never the token.
import type { Reader } from './read.js';

export const ADMIN_SCOPES = ['read', 'erase', 'hold', 'optout'] as const;
export type AdminScope = (typeof ADMIN_SCOPES)[number];

export interface AdminToken {
  readonly name: string;
  readonly scopes: readonly AdminScope[];
  readonly token: string;
}

export const MIN_TOKEN_LENGTH = 16;
const NAME = /^[A-Za-z0-9_.-]{1,32}$/;
const TOKEN = /^[\x21-\x2b\x2d-\x7e]+$/; // visible ASCII but the comma that separates entries

export function readAdminTokens(r: Reader): AdminToken[] {
  const tokens: AdminToken[] = [];
  const single = r.str('ADMIN_TOKEN', '');
  if (single !== '') {
    if (single.length < MIN_TOKEN_LENGTH) r.problem('ADMIN_TOKEN', `must be at least ${MIN_TOKEN_LENGTH} characters when set`);
    else tokens.push({ name: 'default', scopes: ADMIN_SCOPES, token: single });
  }
  const list = r.str('ADMIN_TOKENS', '');
  const entries = list === '' ? [] : list.split(',').map((e) => e.trim());
  entries.forEach((entry, i) => {
    const where = `entry ${i + 1}`;
    const [name = '', scopeList = '', ...rest] = entry.split(':');
    const token = rest.join(':');
    if (!NAME.test(name)) return r.problem('ADMIN_TOKENS', `${where}: must be name:scope[+scope…]:token with a name of 1-32 letters, digits and _ . -`);
    const scopes = scopeList.split('+');
    const unknown = scopes.filter((s) => !(ADMIN_SCOPES as readonly string[]).includes(s));
    if (scopeList === '' || unknown.length > 0 || new Set(scopes).size !== scopes.length) {
      return r.problem('ADMIN_TOKENS', `${where} ("${name}"): scopes must be distinct values from ${ADMIN_SCOPES.join(', ')} joined by +`);
    }
    if (token.length < MIN_TOKEN_LENGTH || !TOKEN.test(token)) {
      return r.problem('ADMIN_TOKENS', `${where} ("${name}"): the token must be at least ${MIN_TOKEN_LENGTH} visible characters, no comma`);
    }
    if (tokens.some((t) => t.name === name)) return r.problem('ADMIN_TOKENS', `${where}: the name "${name}" is used twice${name === 'default' ? ' (ADMIN_TOKEN is "default")' : ''}`);
    if (tokens.some((t) => t.token === token)) return r.problem('ADMIN_TOKENS', `${where} ("${name}"): the same token as another entry`);
    tokens.push({ name, scopes: scopes as AdminScope[], token });
  });
  return tokens;
}
