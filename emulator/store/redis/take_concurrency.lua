-- KEYS: the key's places (a sorted set: request id by the end of its place, as last seen).
-- ARGV: now, limit, request id, prefix, hold seconds, hold wait, ttl.
-- A place ends when its job ends (its hash's finish, or its cancel if earlier); while the job
-- is not stored, when the place's hold lapses (``hold`` seconds after it was taken). Places
-- whose end has come are looked at: let go when the job has ended, else moved to its end. At
-- the limit every place is looked at (an end may be later than its job's: a cancel, a job
-- shorter than the hold). With fewer than ``limit`` held, take one for the request id and
-- answer {held}; otherwise {held, wait}: the seconds until the first stored job ends (``hold
-- wait`` when none is stored). As the memory store's ``take_concurrency``.
local key, now_s, now = KEYS[1], ARGV[1], tonumber(ARGV[1])
local limit, prefix = tonumber(ARGV[2]), ARGV[4]

-- The place's end now (nil: let go) and whether its job is stored.
local function look(id, score)
  local v = redis.call('HMGET', prefix .. 'job:' .. id, 'f', 'c')
  local ends, stored = score, false
  if v[1] then
    ends, stored = tonumber(v[1]), true
    if v[2] and tonumber(v[2]) < ends then ends = tonumber(v[2]) end
  end
  if ends <= now then
    redis.call('ZREM', key, id)
    return nil, stored
  end
  if ends ~= score then redis.call('ZADD', key, fmt(ends), id) end
  return ends, stored
end

local due = redis.call('ZRANGEBYSCORE', key, '-inf', now_s, 'WITHSCORES')
for i = 1, #due, 2 do look(due[i], tonumber(due[i + 1])) end
local held = redis.call('ZCARD', key)
if held >= limit then
  local first = nil
  local all = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
  for i = 1, #all, 2 do
    local ends, stored = look(all[i], tonumber(all[i + 1]))
    if ends and stored and (first == nil or ends < first) then first = ends end
  end
  held = redis.call('ZCARD', key)
  if held >= limit then
    local wait = tonumber(ARGV[6])
    if first then
      wait = first - now
      if wait < 0.001 then wait = 0.001 end
    end
    return {held, fmt(wait)}
  end
end
redis.call('ZADD', key, fmt(now + tonumber(ARGV[5])), ARGV[3])
local last = tonumber(redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')[2])
local ms = ttl_ms(tonumber(ARGV[7]), last - now)
if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
return {held + 1}
