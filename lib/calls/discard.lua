-- Forgets a leg in flight without a row (an erasure; correlate.ts).
-- KEYS: leg hash, in-flight index. ARGV: member. Returns 'discarded' | 'none'
local n = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if n == 1 then return 'discarded' end
return 'none'
