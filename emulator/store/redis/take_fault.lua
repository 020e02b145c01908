-- KEYS: the plans' index (for a cluster's routing).  ARGV: prefix, seed, plan ids in order.
-- Count one request for the first plan named that is kept and not spent: ``seen`` + 1, and
-- ``applied`` + 1 if it applies (``records.fault_applies``: past ``after``, then a draw under
-- ``probability`` from SHA-1 of "<seed>:fault:<id>:<n>", as the memory store draws it).
-- Returns {id, 1 or 0}, or nil when every plan named is gone or spent.
local prefix, seed = ARGV[1], ARGV[2]
for i = 3, #ARGV do
  local id = ARGV[i]
  local key = prefix .. 'fault:' .. id
  local v = redis.call('HMGET', key, 'a', 't', 'p', 'n')
  if v[1] and (v[2] == '' or tonumber(v[4]) < tonumber(v[2])) then
    local after, probability = tonumber(v[1]), tonumber(v[3])
    local seen = redis.call('HINCRBY', key, 's', 1)
    local applies = 0
    if seen > after and probability > 0 then
      if probability >= 1 then
        applies = 1
      else
        local h = redis.sha1hex(seed .. ':fault:' .. id .. ':' .. (seen - after))
        local draw = (tonumber(string.sub(h, 1, 6), 16) * 268435456
          + tonumber(string.sub(h, 7, 13), 16)) / 4503599627370496
        if draw < probability then applies = 1 end
      end
    end
    if applies == 1 then redis.call('HINCRBY', key, 'n', 1) end
    return {id, applies}
  end
end
return false
