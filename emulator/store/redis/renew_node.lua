-- KEYS: the node's key.  ARGV: token, seconds to live (0: let it go).
-- Renew (or release) a node number this process holds; 0 if another holds it now.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if tonumber(ARGV[2]) > 0 then
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
else
  redis.call('DEL', KEYS[1])
end
return 1
