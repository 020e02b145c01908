-- KEYS: balance.  ARGV: amount, default balance ('' for unlimited), ttl.
-- Take ``amount`` if the balance covers it (1), else take nothing (0). A key with no balance
-- is unlimited, or starts from the default balance when there is one.
local key = KEYS[1]
local balance = redis.call('GET', key)
if not balance then
  if ARGV[2] == '' then return 1 end
  balance = ARGV[2]
end
local left, amount = tonumber(balance), tonumber(ARGV[1])
local ms = ttl_ms(tonumber(ARGV[3]), 0)
if left < amount then
  redis.call('SET', key, balance, 'PX', ms)
  return 0
end
redis.call('SET', key, fmt(left - amount), 'PX', ms)
return 1
