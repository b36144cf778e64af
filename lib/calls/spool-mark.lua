-- Marks rows for erasure where they still stand (spool.ts): every one, or none when one has moved
-- (a writer trimmed the head meanwhile).
-- KEYS: spool. ARGV: mark, then index/row pairs. Returns 'marked' | 'moved'
for i = 2, #ARGV, 2 do
  if redis.call('LINDEX', KEYS[1], ARGV[i]) ~= ARGV[i + 1] then return 'moved' end
end
for i = 2, #ARGV, 2 do redis.call('LSET', KEYS[1], ARGV[i], ARGV[1]) end
return 'marked'
