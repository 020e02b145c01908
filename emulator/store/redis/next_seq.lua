-- KEYS: seq, jobs index.  ARGV: ttl.
-- The next sequence number; after the counter expired it goes on from the newest job still
-- indexed, so FIFO order holds against jobs that outlived it.
local n = redis.call('INCR', KEYS[1])
if n == 1 then
  local top = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
  if top[2] then
    n = tonumber(top[2]) + 1
    redis.call('SET', KEYS[1], n)
  end
end
redis.call('PEXPIRE', KEYS[1], ttl_ms(tonumber(ARGV[1]), 0))
return n
