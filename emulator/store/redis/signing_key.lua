-- KEYS: the namespace's signing key.  ARGV: this process's random candidate.
-- The key the first process offered (kept without expiry), else the candidate, kept now.
local kept = redis.call('GET', KEYS[1])
if kept then
  return kept
end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
