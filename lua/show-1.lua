--[[
  Reads one session by its public id, without changing it.

  KEYS[1] slots     sorted set: session id -> effective expiry (ms)

  ARGV[1] key prefix of the instance, e.g. "sd:{acme}:"
  ARGV[2] session id

  Returns {11, now_ms, fields} with fields as HGETALL returns them plus
  "expires_at" and "ttl_ms", or {5} when no such session is open.
]]
--@include "includes/clock.lua"

local key = ARGV[1] .. 'session:' .. ARGV[2]
local ttl = redis.call('PTTL', key)
if ttl <= 0 then return {5} end
local fields = redis.call('HGETALL', key)
fields[#fields + 1] = 'expires_at'
fields[#fields + 1] = redis.call('ZSCORE', KEYS[1], ARGV[2]) or ''
fields[#fields + 1] = 'ttl_ms'
fields[#fields + 1] = tostring(ttl)
return {11, now_ms(), fields}
