-- Takes the spool's writer lock, or renews it for its owner (spool.ts).
-- KEYS: lock. ARGV: owner, ttl ms. Returns 'locked' | 'renewed' | 'taken' (another owner holds it)
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]); return 'renewed' end
if not cur then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]); return 'locked' end
return 'taken'
