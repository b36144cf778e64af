-- The binding store's one round trip (bindings.ts): refuse a blocked source and a replayed
-- nonce-count, refuse a request older than one already applied (RFC 3261 10.3 step 7), apply every
-- change, trim the AOR to its maximum and return what is now bound.
-- Every key it touches is in KEYS (Redis Cluster): a binding key is never built here, only looked up among
-- those declared. The client declares the keys of the cids it believes the AOR holds; a live member of the AOR
-- it did not declare changes nothing and comes back as {'keys', cid, ...} for the client to declare and retry.
-- Expired members need no binding key: their keys have expired with them (same PX), only the indexes are cleaned.
-- KEYS: aor zset, the AOR's shard of the binding index, nonce-count key, block key (the aor key itself = no
--       check: on a cluster the block key is in another slot and checked before), the shard's behind-NAT index,
--       then the binding key of each change (in the order of the changes), then any other binding keys
--       (binding key prefix .. cid). All share one hash tag except a block key on one server.
-- ARGV: now ms, nc (0 = no check), nc ttl ms, binding key prefix, remove all ('1'|'0'), max per AOR,
--       Call-ID, CSeq, then per change: ttl ms (0 = remove), binding JSON, '1' if behind a NAT
-- Returns {'blocked'} | {'replayed'} | {'keys', cid, ...} (live members not declared; nothing changed)
--       | {'out_of_order'} | {'ok', cid, json, expiry ms, cid, json, expiry ms, ...} (json false: its key is gone)
local aor, all, nckey, block, nat = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now, nc, ncttl, bprefix, removeAll, max = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local callid, cseq = ARGV[7], tonumber(ARGV[8])
local nchanges = (#ARGV - 8) / 3
local keyOf = {}
for i = 6, #KEYS do
  if string.sub(KEYS[i], 1, #bprefix) ~= bprefix then return redis.error_reply('ERR a binding key outside the AOR\'s binding key prefix') end
  keyOf[string.sub(KEYS[i], #bprefix + 1)] = KEYS[i]
end
if #KEYS - 5 < nchanges then return redis.error_reply('ERR a change without its binding key') end
if block ~= aor and redis.call('EXISTS', block) == 1 then return {'blocked'} end
local last = nc > 0 and tonumber(redis.call('GET', nckey) or '0')
if nc > 0 and nc <= last then return {'replayed'} end
local live = redis.call('ZRANGEBYSCORE', aor, '(' .. now, '+inf')
local missing = {'keys'}
for _, cid in ipairs(live) do if not keyOf[cid] then missing[#missing + 1] = cid end end
if #missing > 1 then return missing end
if nc > 0 then redis.call('SET', nckey, nc, 'PX', ncttl) end
local expired = redis.call('ZRANGEBYSCORE', aor, '-inf', now)
for _, cid in ipairs(expired) do redis.call('ZREM', all, cid); redis.call('ZREM', nat, cid) end
redis.call('ZREMRANGEBYSCORE', aor, '-inf', now)
-- RFC 3261 10.3 step 7: a binding made by this Call-ID with an equal or higher CSeq means
-- this request is older than one already applied (two instances, two orders).
local function newer(key)
  local v = redis.call('GET', key)
  if not v then return false end
  local ok, b = pcall(cjson.decode, v)
  return ok and b.callId == callid and type(b.cseq) == 'number' and b.cseq >= cseq
end
if removeAll == '1' then
  for _, cid in ipairs(live) do if newer(keyOf[cid]) then return {'out_of_order'} end end
end
local fresh = {}
for j = 1, nchanges do
  if newer(KEYS[5 + j]) then return {'out_of_order'} end
  fresh[string.sub(KEYS[5 + j], #bprefix + 1)] = true
end
local function drop(cid)
  redis.call('DEL', keyOf[cid])
  redis.call('ZREM', aor, cid)
  redis.call('ZREM', all, cid)
  redis.call('ZREM', nat, cid)
end
if removeAll == '1' then
  for _, cid in ipairs(live) do drop(cid) end
end
for j = 1, nchanges do
  local key, i = KEYS[5 + j], 9 + (j - 1) * 3
  local cid, ttl = string.sub(key, #bprefix + 1), tonumber(ARGV[i])
  if ttl == 0 then drop(cid) else
    redis.call('SET', key, ARGV[i + 1], 'PX', ttl)
    redis.call('ZADD', aor, now + ttl, cid)
    redis.call('ZADD', all, now + ttl, cid)
    if ARGV[i + 2] == '1' then redis.call('ZADD', nat, now + ttl, cid) else redis.call('ZREM', nat, cid) end
  end
end
-- Over the limit, the soonest to expire go, never one this request just wrote.
local extra = redis.call('ZCARD', aor) - max
for _, cid in ipairs(extra > 0 and redis.call('ZRANGE', aor, 0, -1) or {}) do
  if extra == 0 then break end
  if not fresh[cid] then drop(cid); extra = extra - 1 end
end
local cur = redis.call('ZRANGE', aor, 0, -1, 'WITHSCORES')
if #cur == 0 then redis.call('DEL', aor); return {'ok'} end
redis.call('PEXPIREAT', aor, cur[#cur])
local out = {'ok'}
for i = 1, #cur, 2 do
  out[#out + 1] = cur[i]; out[#out + 1] = redis.call('GET', keyOf[cur[i]]); out[#out + 1] = cur[i + 1]
end
return out
