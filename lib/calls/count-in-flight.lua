-- Legs in flight now (correlate.ts): drops index entries whose state expired, then counts. A script, not
-- MULTI, for the reason read.lua gives.
-- KEYS: in-flight index. ARGV: now ms. Returns the count.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return redis.call('ZCARD', KEYS[1])
