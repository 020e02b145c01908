-- KEYS: the upload's key, the uploads' index (sorted set: upload key by its expiry in ms),
-- their sizes (hash: upload key -> bytes), their total (bytes).
-- ARGV: the bytes, the time to live (ms), the byte budget (-1: none).
-- Keeps the upload, forgets the index entries of uploads whose keys expired, then drops the
-- oldest uploads while the total is over the budget (the newest is kept whatever its size),
-- as the memory store does. Times are Redis' own clock, which the keys' expiry counts in.
local key, index, sizes, total_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local data, px, budget = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local total = tonumber(redis.call('GET', total_key) or '0')

local function forget(member)
  total = total - tonumber(redis.call('HGET', sizes, member) or '0')
  redis.call('HDEL', sizes, member)
  redis.call('ZREM', index, member)
end

for _, member in ipairs(redis.call('ZRANGEBYSCORE', index, '-inf', now, 'LIMIT', 0, 64)) do
  forget(member)
end
if redis.call('HEXISTS', sizes, key) == 1 then
  forget(key)
end
redis.call('SET', key, data, 'PX', px)
redis.call('ZADD', index, now + px, key)
redis.call('HSET', sizes, key, #data)
total = total + #data
if budget >= 0 then
  while total > budget and redis.call('ZCARD', index) > 1 do
    local oldest = redis.call('ZRANGE', index, 0, 0)[1]
    forget(oldest)
    redis.call('DEL', oldest)
  end
end
redis.call('SET', total_key, total, 'PX', px)
redis.call('PEXPIRE', index, px)
redis.call('PEXPIRE', sizes, px)
return total
