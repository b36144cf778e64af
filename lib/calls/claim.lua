-- The orphan sweep's claim (correlate.ts): legs past due, each moved to 'claimed until' in the same step,
-- so two instances sweeping at once never take the same leg, and one that dies leaves it due again.
-- KEYS: in-flight index. ARGV: now ms, claimed until ms, limit. Returns the claimed members.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], 'XX', ARGV[2], id) end
return ids
