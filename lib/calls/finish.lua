-- Ends a leg if it is still at the version the row was built from (correlate.ts): deleting the leg and
-- queueing its row happen together, so no crash can lose one without the other.
-- KEYS: leg hash, done tombstone, in-flight index, spool list. ARGV: member, expected version,
-- row JSON ('' = no row), done ttl s, spool max.
-- Returns 'duplicate' | 'missing' | 'changed' | 'dropped' (ended, no row) | 'full' | 'spooled'
local v = redis.call('HGET', KEYS[1], 'v')
if not v then
  if redis.call('EXISTS', KEYS[2]) == 1 then return 'duplicate' end
  return 'missing'
end
if v ~= ARGV[2] then return 'changed' end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if ARGV[3] == '' then return 'dropped' end
redis.call('SET', KEYS[2], '1', 'EX', ARGV[4])
if redis.call('LLEN', KEYS[4]) >= tonumber(ARGV[5]) then return 'full' end
redis.call('RPUSH', KEYS[4], ARGV[3])
return 'spooled'
