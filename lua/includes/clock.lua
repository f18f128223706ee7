-- Redis's own clock in milliseconds: the only clock for session timing
-- (SPEC §2), so worker clock skew cannot change a session's life.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
