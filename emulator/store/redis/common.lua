-- Shared by every script (prepended to each). Numbers cross the wire as text: Python's repr
-- of a float and '%.17g' here both read back as the very same double, so the Redis store
-- computes the memory store's schedule to the last bit.
local function fmt(x)
  return string.format('%.17g', x)
end

-- Milliseconds for PEXPIRE: the store's time to live plus ``extra`` seconds (>= 0).
local function ttl_ms(ttl, extra)
  if extra < 0 then extra = 0 end
  return math.ceil((ttl + extra) * 1000)
end

-- Drop index entries whose job has expired, looking at the first few only (writes call it,
-- so the index shrinks as fast as it grows once jobs start to expire).
local function prune_index(index, prefix)
  local head = redis.call('ZRANGE', index, 0, 2)
  for _, id in ipairs(head) do
    if redis.call('EXISTS', prefix .. 'job:' .. id) == 0 then
      redis.call('ZREM', index, id)
    end
  end
end

-- A binary min-heap of numbers: the instants the pool's slots free up.
local function heap_push(heap, value)
  local i = #heap + 1
  heap[i] = value
  while i > 1 do
    local parent = math.floor(i / 2)
    if heap[parent] <= heap[i] then break end
    heap[parent], heap[i] = heap[i], heap[parent]
    i = parent
  end
end

local function heap_pop(heap)
  local top = heap[1]
  local last = table.remove(heap)
  local n = #heap
  if n > 0 then
    heap[1] = last
    local i = 1
    while true do
      local l, r, m = 2 * i, 2 * i + 1, i
      if l <= n and heap[l] < heap[m] then m = l end
      if r <= n and heap[r] < heap[m] then m = r end
      if m == i then break end
      heap[m], heap[i] = heap[i], heap[m]
      i = m
    end
  end
  return top
end

-- RPUSH / ZADD in chunks: Lua's unpack takes a few thousand values at most.
local function push_all(key, values)
  for i = 1, #values, 1000 do
    redis.call('RPUSH', key, unpack(values, i, math.min(i + 999, #values)))
  end
end

local function zadd_all(key, pairs_)
  for i = 1, #pairs_, 1000 do
    redis.call('ZADD', key, unpack(pairs_, i, math.min(i + 999, #pairs_)))
  end
end

-- How many waiting jobs of a pool are ahead, at ``now``, of the job that starts at ``start``
-- with sequence ``seq``: the entries before (start, seq) less those started by now (the
-- memory store's two bisects). At most ``slots`` entries share one start instant.
local function queue_position(starts, now_s, start_s, seq)
  local ahead = redis.call('ZCOUNT', starts, '-inf', '(' .. start_s)
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', starts, start_s, start_s)) do
    if member < seq then ahead = ahead + 1 end
  end
  local position = ahead - redis.call('ZCOUNT', starts, '-inf', now_s)
  if position < 0 then position = 0 end
  return position
end

-- Give a pool ``slots`` slots (the memory store's ``_resize``): fewer set aside the slots that
-- free first (a new job then waits until all but slots - 1 of the running jobs are done), more
-- take the set-aside slots back, earliest first, then new slots free at ``now``. The slots'
-- members are the numbers 1..(free + parked), so a new slot's number is one more.
local function resize_pool(free, parked, slots, now_s)
  local have = redis.call('ZCARD', free)
  while have > slots do
    local slot = redis.call('ZPOPMIN', free)
    redis.call('ZADD', parked, slot[2], slot[1])
    have = have - 1
  end
  while have < slots do
    local slot = redis.call('ZPOPMIN', parked)
    if slot[1] then
      redis.call('ZADD', free, slot[2], slot[1])
    else
      redis.call('ZADD', free, now_s, have + 1)
    end
    have = have + 1
  end
end
