--[[
  The memory floor of SPEC §4's session layout, for docs/PERFORMANCE.md:
  loads n sessions holding only what SPEC §4 requires of each (a hash with
  the nine named fields and a TTL, and one member of the slots sorted set),
  with values shaped like sessiond's (22-character ids, a sid binding).
  Nothing sessiond itself adds (binding key, indexes, meta) is created.

  KEYS: none (the keys are sd:{floor}:*, one hash tag)
  ARGV[1] number of sessions
  ARGV[2] "long" for readable field names, "short" for one-letter ones

  Returns n.
]]
local n = tonumber(ARGV[1])
local short = ARGV[2] == 'short'
local f = {'id', 'subject', 'client_id', 'kind', 'opened_at', 'last_seen',
           'absolute_deadline', 'binding', 'requests'}
if short then f = {'i', 's', 'c', 'k', 'o', 'l', 'a', 'b', 'r'} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000
for i = 1, n do
  local id = string.format('%022d', i)
  local key = 'sd:{floor}:session:' .. id
  redis.call('HSET', key, f[1], id, f[2], 'user' .. i, f[3], 'erp-web',
             f[4], 'interactive', f[5], now, f[6], now, f[7], 0,
             f[8], 'sid:' .. string.format('%036d', i), f[9], 1)
  redis.call('PEXPIREAT', key, now + 1200000)
  redis.call('ZADD', 'sd:{floor}:slots', now + 1200000 + i, id)
end
return n
