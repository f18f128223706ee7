--[[
  Reports license usage of one instance without changing anything.

  KEYS[1] pool      hash of pool settings ("limit")
  KEYS[2] slots     sorted set: session id -> effective expiry (ms)

  ARGV[1] default license limit (reported when the pool has none yet)

  Returns {7, used, limit, earliest_expiry_ms, now_ms}; earliest_expiry_ms
  is -1 when no session is open.
]]
--@include "includes/clock.lua"
--@include "includes/slots.lua"

local pool, slots = KEYS[1], KEYS[2]
local now = now_ms()
local limit = tonumber(redis.call('HGET', pool, 'limit') or ARGV[1])
local first = redis.call('ZRANGEBYSCORE', slots, '(' .. now, '+inf',
                         'WITHSCORES', 'LIMIT', 0, 1)
local earliest = -1
if first[2] then earliest = tonumber(first[2]) end
return {7, slots_used(slots, now), limit, earliest, now}
