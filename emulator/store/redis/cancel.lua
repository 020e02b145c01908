-- KEYS: job.  ARGV: now, slots, ttl, prefix.
-- Mark the job canceled at ``now``; if it took a slot, give the pool's slot time to its
-- waiting jobs again, in order (they only move earlier), as the memory store's
-- ``_reschedule`` does. Returns the canceled job's fields; nil when it is unknown.
local job = KEYS[1]
local now_s, now, slots = ARGV[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local prefix = ARGV[4]
local v = redis.call('HMGET', job, 'r', 's', 'f', 'p')
if not v[1] then return nil end
redis.call('HSET', job, 'c', now_s)
if v[2] == '' then return {v[1], v[2], v[3], now_s} end
local free, starts, active = prefix .. 'free:' .. v[4], prefix .. 'starts:' .. v[4],
  prefix .. 'active:' .. v[4]
local parked = prefix .. 'parked:' .. v[4]
local running, waiting, keep = {}, {}, {}
for _, id in ipairs(redis.call('LRANGE', active, 0, -1)) do
  local key = prefix .. 'job:' .. id
  local j = redis.call('HMGET', key, 's', 'f', 'c', 'q', 'd')
  if j[2] and not j[3] and tonumber(j[2]) > now then
    keep[#keep + 1] = id
    if tonumber(j[1]) <= now then
      running[#running + 1] = tonumber(j[2])
    else
      waiting[#waiting + 1] = {key, j[4], tonumber(j[5])}
    end
  end
end
local heap = {}
for _, finish in ipairs(running) do heap_push(heap, finish) end
for _ = #running + 1, slots do heap_push(heap, now) end
-- More running jobs than slots (the pool was given fewer): the slots that free first wait aside.
local aside = {}
while #heap > slots do aside[#aside + 1] = heap_pop(heap) end
local queued = {}
local longest = 0
for _, w in ipairs(waiting) do
  local start = math.max(now, heap_pop(heap))
  local finish = start + w[3]
  heap_push(heap, finish)
  local start_s = fmt(start)
  redis.call('HSET', w[1], 's', start_s, 'f', fmt(finish))
  if start > now then
    queued[#queued + 1] = start_s
    queued[#queued + 1] = w[2]
  end
end
redis.call('DEL', free, starts, active, parked)
local slots_free = {}
for slot, instant in ipairs(heap) do
  slots_free[#slots_free + 1] = fmt(instant)
  slots_free[#slots_free + 1] = slot
  if instant - now > longest then longest = instant - now end
end
zadd_all(free, slots_free)
local slots_aside = {}
for i, instant in ipairs(aside) do
  slots_aside[#slots_aside + 1] = fmt(instant)
  slots_aside[#slots_aside + 1] = #heap + i
  if instant - now > longest then longest = instant - now end
end
zadd_all(parked, slots_aside)
zadd_all(starts, queued)
push_all(active, keep)
local ms = ttl_ms(tonumber(ARGV[3]), longest)
for _, key in ipairs({free, starts, active, parked}) do redis.call('PEXPIRE', key, ms) end
return {v[1], v[2], v[3], now_s}
