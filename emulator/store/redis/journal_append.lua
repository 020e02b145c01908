-- KEYS: the journal (a list, newest first).  ARGV: keep, ttl, then the entries oldest first.
-- Push the entries (the last one ends up at the head), keep the newest ``keep``, and keep the
-- list ``ttl`` seconds from now.
local journal = KEYS[1]
for i = 3, #ARGV, 1000 do
  redis.call('LPUSH', journal, unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
redis.call('LTRIM', journal, 0, tonumber(ARGV[1]) - 1)
redis.call('PEXPIRE', journal, ttl_ms(tonumber(ARGV[2]), 0))
return 1
