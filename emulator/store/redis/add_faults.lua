-- KEYS: the plans' index (sorted set, id by number), their counter, the mark of the config
--       file's plans, the live version.
-- ARGV: prefix, most plans, once ('1' or ''), new version token, then for each plan: body,
--       after, times ('' for never spent), probability.
-- Keep the plans in order under the next ids (``plan_<n>``); nil if the index would then hold
-- more than the most, an empty list if ``once`` and plans were offered once already.
local index, counter, offered, live = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local prefix, limit, once = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1'
if once and redis.call('EXISTS', offered) == 1 then return {} end
local count = (#ARGV - 4) / 4
if redis.call('ZCARD', index) + count > limit then return false end
if once then redis.call('SET', offered, '1') end
local ids = {}
for i = 0, count - 1 do
  local n = redis.call('INCR', counter)
  local id = 'plan_' .. n
  local at = 5 + i * 4
  redis.call('HSET', prefix .. 'fault:' .. id, 'b', ARGV[at], 'a', ARGV[at + 1],
    't', ARGV[at + 2], 'p', ARGV[at + 3], 's', 0, 'n', 0)
  redis.call('ZADD', index, n, id)
  ids[#ids + 1] = id
end
redis.call('SET', live, ARGV[4])
return ids
