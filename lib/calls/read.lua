-- A leg's fields and whether it is finished, in one command (correlate.ts). Not MULTI: the call flow's
-- connection pipelines its commands, and a MULTI would overtake the merges queued before it.
-- KEYS: leg hash, done tombstone. Returns {done (0|1), field, value, field, value, ...}
local h = redis.call('HGETALL', KEYS[1])
table.insert(h, 1, redis.call('EXISTS', KEYS[2]))
return h
