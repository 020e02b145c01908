-- KEYS: the key's places (a sorted set: request id by the instant its place was taken).
-- ARGV: now, limit, request id, prefix, hold seconds, hold wait, ttl.
-- A place is held while its job is unfinished (stored, and neither finished nor canceled by
-- now), or, before the job is stored, for ``hold`` seconds; ended places are let go. With
-- fewer than ``limit`` held, take one for the request id and answer {held}; otherwise
-- {held, wait}: the seconds until the first held job ends (``hold wait`` when none is stored
-- yet). As the memory store's ``take_concurrency``.
local key, now_s, now = KEYS[1], ARGV[1], tonumber(ARGV[1])
local limit, prefix, hold = tonumber(ARGV[2]), ARGV[4], tonumber(ARGV[5])
local held, first, last = 0, math.huge, now
local places = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
for i = 1, #places, 2 do
  local id = places[i]
  local v = redis.call('HMGET', prefix .. 'job:' .. id, 'f', 'c')
  local ends = now
  if v[1] then
    ends = tonumber(v[1])
    if v[2] and tonumber(v[2]) < ends then ends = tonumber(v[2]) end
  elseif tonumber(places[i + 1]) > now - hold then
    ends = math.huge
  end
  if ends > now then
    held = held + 1
    if ends < first then first = ends end
    if ends ~= math.huge and ends > last then last = ends end
  else
    redis.call('ZREM', key, id)
  end
end
if held >= limit then
  local wait = tonumber(ARGV[6])
  if first ~= math.huge then
    wait = first - now
    if wait < 0.001 then wait = 0.001 end
  end
  return {held, fmt(wait)}
end
redis.call('ZADD', key, now_s, ARGV[3])
local ms = ttl_ms(tonumber(ARGV[7]), math.max(last - now, hold))
if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
return {held + 1}
