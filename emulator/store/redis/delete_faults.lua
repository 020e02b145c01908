-- KEYS: the plans' index, the live version.
-- ARGV: prefix, new version token, every plan ('1' or ''), then the ids to forget.
-- How many of them there were.
local index, prefix = KEYS[1], ARGV[1]
local ids = {}
if ARGV[3] == '1' then
  ids = redis.call('ZRANGE', index, 0, -1)
else
  for i = 4, #ARGV do ids[#ids + 1] = ARGV[i] end
end
local gone = 0
for _, id in ipairs(ids) do
  if redis.call('ZREM', index, id) == 1 then
    redis.call('DEL', prefix .. 'fault:' .. id)
    gone = gone + 1
  end
end
redis.call('SET', KEYS[2], ARGV[2])
return gone
