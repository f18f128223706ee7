--[[
  Reports license usage of one instance without changing anything.

  KEYS[1] pool      hash of pool settings ("limit")
  KEYS[2] reserved  set of reserved subjects
  KEYS[3] slots     sorted set: session id -> effective expiry (ms)
  KEYS[4] seats     sorted set: reserved subject -> expiry of its seat session

  ARGV[1] default license limit (reported when the pool has none yet; -1
          when the caller has no configuration to take one from)

  Returns {7, used, limit, earliest_expiry_ms, now_ms, reserved, seats_used,
  subjects, invalid_limit}: earliest_expiry_ms is -1 when no session is open;
  reserved is the number of reserved subjects, seats_used how many of them
  hold their seat, subjects the reserved subjects themselves, sorted;
  invalid_limit is the stored limit when it is set but not an integer >= 0
  (the scripts then use the default, ARGV[1]), else ''.
]]
--@include "includes/clock.lua"
--@include "includes/slots.lua"

local pool, reserved, slots, seats = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now = now_ms()
local limit = pool_limit(pool, ARGV[1])
local stored = redis.call('HGET', pool, 'limit')
local invalid = ''
if stored and pool_limit(pool, '-1') == -1 then invalid = stored end
local subjects = redis.call('SMEMBERS', reserved)
table.sort(subjects)
return {7, open_count(slots, now), limit, earliest_expiry(slots, now) or -1,
        now, #subjects, open_count(seats, now), subjects, invalid}
