-- KEYS: the runtime settings (hash, name -> JSON), the live version.
-- ARGV: new version token, then name, value ('' removes the change) pairs.
for i = 2, #ARGV, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', KEYS[1], ARGV[i])
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
redis.call('SET', KEYS[2], ARGV[1])
return 1
