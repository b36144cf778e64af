-- Drops the index entry of a leg whose state has expired, never a live leg's (correlate.ts).
-- KEYS: leg hash, in-flight index. ARGV: member. Returns 'pruned' | 'live'
if redis.call('EXISTS', KEYS[1]) == 1 then return 'live' end
redis.call('ZREM', KEYS[2], ARGV[1])
return 'pruned'
