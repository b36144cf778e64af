-- The location lookup's one round trip (bindings.ts, read-only): the bindings of one AOR whose index
-- entry is still in the future, as stored (at most the AOR's maximum).
-- Every key it reads is in KEYS (Redis Cluster): the client declares the binding keys of the cids it believes
-- the AOR holds; a live member it did not declare is not read and comes back in {'keys', cid, ...}.
-- KEYS: aor zset, then binding keys (binding key prefix .. cid), same hash tag
-- ARGV: now ms, binding key prefix
-- Returns {'keys', cid, ...} (live members not declared) | {'ok', cid, json, cid, json, ...} by expiry,
--         json false for a key that expired since its index entry was written
local p = ARGV[2]
local keyOf = {}
for i = 2, #KEYS do
  if string.sub(KEYS[i], 1, #p) ~= p then return redis.error_reply('ERR a binding key outside the AOR\'s binding key prefix') end
  keyOf[string.sub(KEYS[i], #p + 1)] = KEYS[i]
end
local cids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')
local missing = {'keys'}
for _, cid in ipairs(cids) do if not keyOf[cid] then missing[#missing + 1] = cid end end
if #missing > 1 then return missing end
local out = {'ok'}
if #cids == 0 then return out end
local keys = {}
for i, cid in ipairs(cids) do keys[i] = keyOf[cid] end
for i, v in ipairs(redis.call('MGET', unpack(keys))) do out[#out + 1] = cids[i]; out[#out + 1] = v end
return out
