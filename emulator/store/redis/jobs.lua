-- KEYS: jobs index.  ARGV: offset, limit (-1: all), prefix.
-- Jobs in sequence order from ``offset``: each as its stored fields (record, started,
-- finished, canceled). Index entries of expired jobs met on the way are dropped.
local index, offset, limit, prefix = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local out = {}
local found = 0
while limit < 0 or found < limit do
  local want = 500
  if limit >= 0 and limit - found < want then want = limit - found end
  local ids = redis.call('ZRANGE', index, offset, offset + want - 1)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    local v = redis.call('HMGET', prefix .. 'job:' .. id, 'r', 's', 'f', 'c')
    if v[1] then
      out[#out + 1] = v[1]
      out[#out + 1] = v[2]
      out[#out + 1] = v[3]
      out[#out + 1] = v[4] or ''
      found = found + 1
      offset = offset + 1
    else
      redis.call('ZREM', index, id)
    end
  end
end
return out
