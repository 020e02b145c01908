-- KEYS: window (a sorted set of hit instants).  ARGV: now, limit, window seconds, ttl.
-- Count one hit unless ``limit`` hits are already in the window; then answer the seconds
-- until the oldest leaves it (at least a millisecond). Nil when the hit is counted.
local key, now_s, now = KEYS[1], ARGV[1], tonumber(ARGV[1])
local limit, window = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', fmt(now - window))
local hits = redis.call('ZCARD', key)
if hits >= limit then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  local wait = tonumber(oldest[2]) + window - now
  if wait < 0.001 then wait = 0.001 end
  return fmt(wait)
end
-- Hits at one instant are pruned together, so their count keeps each member unique.
redis.call('ZADD', key, now_s, now_s .. ':' .. hits)
redis.call('PEXPIRE', key, ttl_ms(tonumber(ARGV[4]), window))
return nil
