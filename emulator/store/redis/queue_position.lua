-- KEYS: starts.  ARGV: now, the job's start, its seq (padded).
if tonumber(ARGV[2]) <= tonumber(ARGV[1]) then return 0 end
return queue_position(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
