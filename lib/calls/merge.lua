-- Records an attempt, a start, or a stop that does not end the leg, on a leg in flight (correlate.ts).
-- Each event renews the leg's due time (when the orphan sweep may finalise it): the unanswered due
-- time until the leg has an answer, the answered one after.
-- KEYS: leg hash, done tombstone, in-flight index. ARGV: member, due ms and state ttl s while unanswered,
-- due ms and state ttl s once answered, flag, #set, #setnx, #min, then name/value pairs: set (overwrite),
-- setnx (first wins), min (earliest wins).
-- Returns 'late' (the leg is finished) | 'duplicate' (this source, role or stop was seen) | 'ok'
if redis.call('EXISTS', KEYS[2]) == 1 then return 'late' end
if redis.call('HSETNX', KEYS[1], ARGV[6], '1') == 0 then return 'duplicate' end
local i = 10
for _ = 1, tonumber(ARGV[7]) do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]); i = i + 2 end
for _ = 1, tonumber(ARGV[8]) do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]); i = i + 2 end
for _ = 1, tonumber(ARGV[9]) do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  if not cur or tonumber(ARGV[i + 1]) < tonumber(cur) then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
  i = i + 2
end
local due, ex = ARGV[2], ARGV[3]
if redis.call('HEXISTS', KEYS[1], 'ans') == 1 then due, ex = ARGV[4], ARGV[5] end
redis.call('HSET', KEYS[1], 'due', due)
redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('EXPIRE', KEYS[1], ex)
redis.call('ZADD', KEYS[3], due, ARGV[1])
return 'ok'
