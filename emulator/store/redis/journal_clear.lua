-- KEYS: the journal (a list, newest first).  ARGV: a test id, ttl.
-- Take out the entries of that test id (each entry starts with its test id and a newline),
-- keeping the others in their order and the list ``ttl`` seconds from now.
local journal = KEYS[1]
local start = ARGV[1] .. '\n'
local kept = {}
for _, entry in ipairs(redis.call('LRANGE', journal, 0, -1)) do
  if string.sub(entry, 1, #start) ~= start then
    kept[#kept + 1] = entry
  end
end
redis.call('DEL', journal)
if #kept > 0 then
  push_all(journal, kept)
  redis.call('PEXPIRE', journal, ttl_ms(tonumber(ARGV[2]), 0))
end
return #kept
