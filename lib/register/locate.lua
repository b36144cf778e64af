-- The location lookup's one round trip (bindings.ts, read-only): the bindings of one AOR whose index
-- entry is still in the future, as stored (at most the AOR's maximum).
-- KEYS: aor zset
-- ARGV: now ms, binding key prefix
-- Returns the binding JSONs, false for a key that expired since its index entry was written
local cids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')
if #cids == 0 then return {} end
for i, cid in ipairs(cids) do cids[i] = ARGV[2] .. cid end
return redis.call('MGET', unpack(cids))
