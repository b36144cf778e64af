-- One failed authentication of a source (guard.ts), unless it is blocked already.
-- KEYS: failure counter, block key. ARGV: window s, limit, block s.
-- Returns 'blocked' (already: not counted) | 'block_started' (this failure reached the limit) | 'counted'
if redis.call('EXISTS', KEYS[2]) == 1 then return 'blocked' end
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if n >= tonumber(ARGV[2]) and redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SET', KEYS[2], '1', 'EX', ARGV[3])
  redis.call('DEL', KEYS[1])
  return 'block_started'
end
return 'counted'
