-- The binding store's one round trip (bindings.ts): refuse a blocked source and a replayed
-- nonce-count, refuse a request older than one already applied (RFC 3261 10.3 step 7), apply every
-- change, trim the AOR to its maximum and return what is now bound.
-- KEYS: aor zset, the AOR's shard of the binding index, nonce-count key, block key (the aor key itself = no
--       check: on a cluster the block key is in another slot and checked before), the shard's behind-NAT index.
--       All share one hash tag except a block key on one server; binding keys are the binding key prefix
--       (ARGV) .. cid, same tag.
-- ARGV: now ms, nc (0 = no check), nc ttl ms, binding key prefix, remove all ('1'|'0'), max per AOR,
--       Call-ID, CSeq, then per change: cid, ttl ms (0 = remove), binding JSON, '1' if behind a NAT
-- Returns {'blocked'} | {'replayed'} | {'out_of_order'} | {'ok', json, expiry ms, json, expiry ms, ...}
local aor, all, nckey, block, nat = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now, nc, ncttl, bprefix, removeAll, max = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local callid, cseq = ARGV[7], tonumber(ARGV[8])
if block ~= aor and redis.call('EXISTS', block) == 1 then return {'blocked'} end
if nc > 0 then
  local last = tonumber(redis.call('GET', nckey) or '0')
  if nc <= last then return {'replayed'} end
  redis.call('SET', nckey, nc, 'PX', ncttl)
end
local expired = redis.call('ZRANGEBYSCORE', aor, '-inf', now)
for _, cid in ipairs(expired) do redis.call('ZREM', all, cid); redis.call('ZREM', nat, cid) end
redis.call('ZREMRANGEBYSCORE', aor, '-inf', now)
-- RFC 3261 10.3 step 7: a binding made by this Call-ID with an equal or higher CSeq means
-- this request is older than one already applied (two instances, two orders).
local function newer(cid)
  local v = redis.call('GET', bprefix .. cid)
  if not v then return false end
  local ok, b = pcall(cjson.decode, v)
  return ok and b.callId == callid and type(b.cseq) == 'number' and b.cseq >= cseq
end
if removeAll == '1' then
  for _, cid in ipairs(redis.call('ZRANGE', aor, 0, -1)) do if newer(cid) then return {'out_of_order'} end end
end
local fresh = {}
for i = 9, #ARGV, 4 do
  if newer(ARGV[i]) then return {'out_of_order'} end
  fresh[ARGV[i]] = true
end
local function drop(cid)
  redis.call('DEL', bprefix .. cid)
  redis.call('ZREM', aor, cid)
  redis.call('ZREM', all, cid)
  redis.call('ZREM', nat, cid)
end
if removeAll == '1' then
  for _, cid in ipairs(redis.call('ZRANGE', aor, 0, -1)) do drop(cid) end
end
for i = 9, #ARGV, 4 do
  local cid, ttl = ARGV[i], tonumber(ARGV[i + 1])
  if ttl == 0 then drop(cid) else
    redis.call('SET', bprefix .. cid, ARGV[i + 2], 'PX', ttl)
    redis.call('ZADD', aor, now + ttl, cid)
    redis.call('ZADD', all, now + ttl, cid)
    if ARGV[i + 3] == '1' then redis.call('ZADD', nat, now + ttl, cid) else redis.call('ZREM', nat, cid) end
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
  local v = redis.call('GET', bprefix .. cur[i])
  if v then out[#out + 1] = v; out[#out + 1] = cur[i + 1] end
end
return out
