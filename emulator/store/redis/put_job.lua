-- KEYS: job, jobs index.
-- ARGV: id, record, started ('' for none), finished, canceled ('' for none), seq (padded),
--       seq (number), service seconds, pool, ttl, extra seconds to live, prefix.
local job, index = KEYS[1], KEYS[2]
redis.call('DEL', job)
redis.call('HSET', job, 'r', ARGV[2], 's', ARGV[3], 'f', ARGV[4], 'q', ARGV[6],
  'd', ARGV[8], 'p', ARGV[9])
if ARGV[5] ~= '' then redis.call('HSET', job, 'c', ARGV[5]) end
local ms = ttl_ms(tonumber(ARGV[10]), tonumber(ARGV[11]))
redis.call('PEXPIRE', job, ms)
prune_index(index, ARGV[12])
redis.call('ZADD', index, ARGV[7], ARGV[1])
if redis.call('PTTL', index) < ms then redis.call('PEXPIRE', index, ms) end
return 1
