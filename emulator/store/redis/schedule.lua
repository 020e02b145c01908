-- KEYS: job, jobs index, free (slot -> instant it frees), starts (seq -> start of a waiting
--       job), active (unfinished job ids, FIFO), parked (slots set aside while the pool has
--       fewer than it had).
-- ARGV: now, slots, service seconds, seq (padded), seq (number), record, pool, canceled
--       ('' for none), ttl, prefix, id.
-- The job takes the earliest-free slot of its pool (FIFO: jobs arrive in order), as the
-- memory store's heap does; returns its start and finish.
local job, index, free, starts, active = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local parked = KEYS[6]
local now_s, now = ARGV[1], tonumber(ARGV[1])
local prefix = ARGV[10]
local slots = tonumber(ARGV[2])
if redis.call('EXISTS', free) == 0 then
  for slot = 1, slots do redis.call('ZADD', free, now_s, slot) end
else
  resize_pool(free, parked, slots, now_s)
end
-- Waiting jobs that started by now can never be counted again: the clock only moves on.
redis.call('ZREMRANGEBYSCORE', starts, '-inf', now_s)
while true do
  local head = redis.call('LINDEX', active, 0)
  if not head then break end
  local finished = redis.call('HGET', prefix .. 'job:' .. head, 'f')
  if finished and tonumber(finished) > now then break end
  redis.call('LPOP', active)
end
local slot = redis.call('ZPOPMIN', free)
local start = math.max(now, tonumber(slot[2]))
local finish = start + tonumber(ARGV[3])
local start_s, finish_s = fmt(start), fmt(finish)
redis.call('ZADD', free, finish_s, slot[1])
if start > now then redis.call('ZADD', starts, start_s, ARGV[4]) end
local id = ARGV[11]
redis.call('RPUSH', active, id)
redis.call('DEL', job)
redis.call('HSET', job, 'r', ARGV[6], 's', start_s, 'f', finish_s, 'q', ARGV[4],
  'd', ARGV[3], 'p', ARGV[7])
if ARGV[8] ~= '' then redis.call('HSET', job, 'c', ARGV[8]) end
local ms = ttl_ms(tonumber(ARGV[9]), finish - now)
redis.call('PEXPIRE', job, ms)
prune_index(index, prefix)
redis.call('ZADD', index, ARGV[5], id)
for _, key in ipairs({index, free, starts, active, parked}) do
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end
return {start_s, finish_s}
