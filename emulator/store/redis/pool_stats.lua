-- KEYS: free, starts of each pool in turn.  ARGV: now.
-- Per pool the store holds (its ``free`` set exists): its index in KEYS (1-based, in pairs),
-- its slots, the slots running a job at ``now`` (they free later: a slot never idles between
-- the jobs it was given after ``now``) and the jobs waiting (their start is still ahead).
local after = '(' .. ARGV[1]
local out = {}
for i = 1, #KEYS, 2 do
  local slots = redis.call('ZCARD', KEYS[i])
  if slots > 0 then
    out[#out + 1] = (i + 1) / 2
    out[#out + 1] = slots
    out[#out + 1] = redis.call('ZCOUNT', KEYS[i], after, '+inf')
    out[#out + 1] = redis.call('ZCOUNT', KEYS[i + 1], after, '+inf')
  end
end
return out
