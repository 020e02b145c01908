-- KEYS: one sorted set per window (a member per unit, scored by the instant it was counted).
-- ARGV: now, ttl, then for each window its limit, seconds and amount.
-- Count ``amount`` units in every window, or in none when one lacks room (its units plus the
-- amount would pass its limit). Returns {refused, wait, used, reset, used, reset, ...}:
-- ``refused`` the 1-based index of the first window without room (0 when counted) and
-- ``wait`` the seconds until it has room; then each window's units and the seconds until its
-- oldest unit leaves it (0 when empty). As the memory store's ``take_windows``.
local now_s, now, ttl = ARGV[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local n = #KEYS
local used, refused, wait = {}, 0, 0
for i = 1, n do
  local key = KEYS[i]
  local limit, seconds = tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1])
  local amount = tonumber(ARGV[3 * i + 2])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', fmt(now - seconds))
  used[i] = redis.call('ZCARD', key)
  if refused == 0 and used[i] + amount > limit then
    refused = i
    local excess = used[i] + amount - limit
    local leaves
    if excess > used[i] then
      -- More than the whole limit: room (never enough) once the window is empty.
      if used[i] == 0 then
        leaves = now + seconds
      else
        leaves = tonumber(redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')[2]) + seconds
      end
    else
      leaves = tonumber(redis.call('ZRANGE', key, excess - 1, excess - 1, 'WITHSCORES')[2])
        + seconds
    end
    wait = leaves - now
    if wait < 0.001 then wait = 0.001 end
  end
end
if refused == 0 then
  for i = 1, n do
    local key, seconds, amount = KEYS[i], tonumber(ARGV[3 * i + 1]), tonumber(ARGV[3 * i + 2])
    -- Units of one instant leave together, so their count keeps each member unique.
    for j = 1, amount do
      redis.call('ZADD', key, now_s, now_s .. ':' .. (used[i] + j))
    end
    used[i] = used[i] + amount
    redis.call('PEXPIRE', key, ttl_ms(ttl, seconds))
  end
end
local out = {refused, fmt(wait)}
for i = 1, n do
  local reset = 0
  if used[i] > 0 then
    reset = tonumber(redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')[2])
      + tonumber(ARGV[3 * i + 1]) - now
  end
  out[#out + 1] = used[i]
  out[#out + 1] = fmt(reset)
end
return out
