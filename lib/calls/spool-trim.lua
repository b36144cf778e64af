-- Removes a written batch from the head of the spool, only while `owner` holds the lock and the head is
-- still that batch (spool.ts): a writer that lost its lock, or a trim resent after a lost reply, can
-- never remove rows it did not write.
-- KEYS: spool, lock. ARGV: owner, ttl ms, n, first row, last row. Returns 'not_owner' | 'moved' | 'trimmed'
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 'not_owner' end
local n = tonumber(ARGV[3])
if redis.call('LINDEX', KEYS[1], 0) ~= ARGV[4] or redis.call('LINDEX', KEYS[1], n - 1) ~= ARGV[5] then return 'moved' end
redis.call('LTRIM', KEYS[1], n, -1)
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 'trimmed'
