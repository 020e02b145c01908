-- KEYS: job.  ARGV: now, prefix.
-- The job's stored fields and how many jobs of its pool wait ahead of it at ``now``: a
-- status read in one round trip. Nil when the job is unknown.
local v = redis.call('HMGET', KEYS[1], 'r', 's', 'f', 'c', 'q', 'p')
if not v[1] then return nil end
local position = 0
if v[2] and v[2] ~= '' and tonumber(v[2]) > tonumber(ARGV[1]) then
  position = queue_position(ARGV[2] .. 'starts:' .. v[6], ARGV[1], v[2], v[5])
end
return {v[1], v[2], v[3], v[4] or '', position}
