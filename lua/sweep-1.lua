--[[
  Removes a bounded batch of expired slot entries, so usage stays exact and
  the set stays small even when no new session is claimed (SPEC §4: no slot
  outlives its session's expiry by more than one sweep interval).

  KEYS[1] slots     sorted set: session id -> effective expiry (ms)

  ARGV[1] batch: most entries removed by this call

  Returns {6, removed, remaining_expired}: remaining_expired > 0 tells the
  caller to sweep again soon.
]]
--@include "includes/clock.lua"
--@include "includes/slots.lua"

local slots = KEYS[1]
local now = now_ms()
local removed = slots_reap(slots, now, tonumber(ARGV[1]))
local left = redis.call('ZCOUNT', slots, '-inf', now)
return {6, removed, left}
