-- Legs in flight now (correlate.ts): drops index entries whose state expired (due longer ago than the
-- state's grace), then counts. A script, not MULTI, for the reason read.lua gives.
-- KEYS: in-flight index. ARGV: the oldest due time still alive, ms. Returns the count.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
return redis.call('ZCARD', KEYS[1])
