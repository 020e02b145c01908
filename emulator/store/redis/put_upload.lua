-- KEYS: the upload's key, the uploads' index (sorted set: upload key by the order it was
-- kept), their sizes (hash: upload key -> bytes), their total (bytes), the order's counter.
-- ARGV: the bytes, the time to live (ms), the byte budget (-1: none).
-- Keeps the upload, forgets the index entries of uploads whose keys expired (every upload
-- lives as long, so they are the oldest), then drops the oldest uploads while the total is
-- over the budget (the newest is kept whatever its size), as the memory store does.
local key, index, sizes, total_key, order = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local data, px, budget = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local total = tonumber(redis.call('GET', total_key) or '0')

local function forget(member)
  total = total - tonumber(redis.call('HGET', sizes, member) or '0')
  redis.call('HDEL', sizes, member)
  redis.call('ZREM', index, member)
end

for _, member in ipairs(redis.call('ZRANGE', index, 0, 63)) do
  if redis.call('EXISTS', member) == 1 then
    break
  end
  forget(member)
end
if redis.call('HEXISTS', sizes, key) == 1 then
  forget(key)
end
redis.call('SET', key, data, 'PX', px)
redis.call('ZADD', index, redis.call('INCR', order), key)
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
for _, name in ipairs({index, sizes, order}) do
  redis.call('PEXPIRE', name, px)
end
return total
