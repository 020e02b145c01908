-- KEYS: the metric totals (a hash).  ARGV: ttl, then field, amount, field, amount...
-- Add each amount to its field (a field not there yet starts at zero) and keep the hash for
-- ``ttl`` seconds from now: it lives while any process of the emulator counts.
local totals = KEYS[1]
for i = 2, #ARGV, 2 do
  redis.call('HINCRBYFLOAT', totals, ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIRE', totals, ttl_ms(tonumber(ARGV[1]), 0))
return 1
