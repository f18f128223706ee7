--[[
  Closes the open session of a binding (logout) and frees its slot at once.

  KEYS[1] slots     sorted set: session id -> effective expiry (ms)
  KEYS[2] binding   string: binding -> session id

  ARGV[1] key prefix of the instance, e.g. "sd:{acme}:"

  Returns one of (codes mirror enum sd_script_result):
    {4, id}   closed
    {5}       no open session for this binding
]]
--@include "includes/clock.lua"

local slots, binding = KEYS[1], KEYS[2]
local id = redis.call('GET', binding)
if not id then return {5} end

local session = ARGV[1] .. 'session:' .. id
local open = redis.call('PEXPIRETIME', session) > now_ms()
redis.call('DEL', session, binding)
redis.call('ZREM', slots, id)
if not open then return {5} end
return {4, id}
