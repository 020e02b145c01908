-- KEYS: the plans' index.  ARGV: prefix.
-- Every plan in order: id, body, after, times, probability, seen, applied (7 values each).
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local v = redis.call('HMGET', ARGV[1] .. 'fault:' .. id, 'b', 'a', 't', 'p', 's', 'n')
  if v[1] then
    out[#out + 1] = id
    for i = 1, 6 do out[#out + 1] = v[i] end
  end
end
return out
