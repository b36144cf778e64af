// Lua scripts live in .lua files beside the module that owns their keys (the build copies them next
// to the compiled modules); each file is read once, when its owner is loaded. Their commands are typed
// where they are defined, through ioredis's command declarations (declare module 'ioredis').
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster } from 'ioredis';
import type { RedisClient } from './redis.js';

/** `numberOfKeys` null: the keys vary from call to call, and the caller passes their number first. */
export interface LuaScript { readonly name: string; readonly numberOfKeys: number | null; readonly lua: string }

export function luaScript(dir: string, file: string, name: string, numberOfKeys: number | null): LuaScript {
  return { name, numberOfKeys, lua: readFileSync(join(dir, file), 'utf8') };
}

/** Several scripts of one folder: command name → [file, number of keys]. */
export function luaScripts(dir: string, table: Record<string, [string, number]>): LuaScript[] {
  return Object.entries(table).map(([name, [file, keys]]) => luaScript(dir, file, name, keys));
}

/** Makes each script a command of `redis` (EVALSHA, and EVAL once when the server lacks it). */
export function defineScripts(redis: Pick<RedisClient, 'defineCommand'>, scripts: readonly LuaScript[]): void {
  for (const s of scripts) {
    if (s.numberOfKeys !== null) { redis.defineCommand(s.name, { numberOfKeys: s.numberOfKeys, lua: s.lua }); continue; }
    redis.defineCommand(s.name, { lua: s.lua });
    // A cluster client's auto-pipeline sends each command to the node of its first argument, which for a
    // script whose keys vary is the number of keys: several in one turn then go to one node, wrongly, and
    // fail together. Sent by itself the command is routed by its real keys. (ioredis reads this list per call.)
    if (redis instanceof Cluster && !redis.options.autoPipeliningIgnoredCommands?.includes(s.name)) {
      redis.options.autoPipeliningIgnoredCommands = [...(redis.options.autoPipeliningIgnoredCommands ?? []), s.name];
    }
  }
}
