-- KEYS: the node key prefix.  ARGV: token, seconds to live, most nodes.
-- The lowest node number no live process holds, held for ARGV[2] seconds under ARGV[1]
-- (renewed while the process runs); -1 when every number is taken.
for i = 0, tonumber(ARGV[3]) - 1 do
  if redis.call('SET', KEYS[1] .. i, ARGV[1], 'NX', 'EX', tonumber(ARGV[2])) then
    return i
  end
end
return -1
