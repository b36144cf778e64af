-- Records an attempt or a start on a leg in flight (correlate.ts).
-- KEYS: leg hash, done tombstone, in-flight index. ARGV: member, index score, ttl s, flag, #set, #setnx,
-- #min, then name/value pairs: set (overwrite), setnx (first wins), min (earliest wins).
-- Returns 'late' (the leg is finished) | 'duplicate' (this source or role was seen) | 'ok'
if redis.call('EXISTS', KEYS[2]) == 1 then return 'late' end
if redis.call('HSETNX', KEYS[1], ARGV[4], '1') == 0 then return 'duplicate' end
local i = 8
for _ = 1, tonumber(ARGV[5]) do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]); i = i + 2 end
for _ = 1, tonumber(ARGV[6]) do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]); i = i + 2 end
for _ = 1, tonumber(ARGV[7]) do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  if not cur or tonumber(ARGV[i + 1]) < tonumber(cur) then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
  i = i + 2
end
redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
return 'ok'
