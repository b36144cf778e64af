-- Releases the writer lock if `owner` holds it (spool.ts).
-- KEYS: lock. ARGV: owner. Returns 'released' | 'not_owner'
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]); return 'released' end
return 'not_owner'
