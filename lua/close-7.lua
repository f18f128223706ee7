--[[
  Closes an open session and frees its slot at once: a logout (found by the
  token's binding) or an operator's close (found by session id).

  KEYS[1] slots     sorted set: session id -> effective expiry (ms)
  KEYS[2] seats     sorted set: reserved subject -> expiry of its seat session
  KEYS[3] meta      hash: session id -> JSON record
  KEYS[4] events    capped stream of lifecycle events
  KEYS[5] binding   string: binding -> session id (unused when ARGV[5] is set)
  KEYS[6] opened    sorted set: session id -> opened at (ms)
  KEYS[7] revoked   the token's jti revocation key (logout only: a revoked
                    token may not log out, SPEC §3)

  ARGV[1] key prefix of the instance, e.g. "sd:{acme}:"
  ARGV[2] reason recorded in the "closed" event: "logout" or "admin"
  ARGV[3] event stream length cap (approximate)
  ARGV[4] replica id, recorded in events
  ARGV[5] session id to close, or "" to use the binding (a logout)
  ARGV[6] "1" to close only a session that served no request since it
          opened (requests = 1): the worker's undo of an open whose reply
          came after the client was already told 503; else "0"

  Returns one of (codes mirror enum sd_script_result):
    {4, id}                  closed
    {5, idle, absolute}      no open session (or, with ARGV[6], one that was
                             used); idle/absolute is 1 when this call found
                             it just expired and recorded that
    {8}                      logout with a revoked token: nothing closed
]]
--@include "includes/clock.lua"
--@include "includes/slots.lua"
--@include "includes/lifecycle.lua"

local ctx = {slots = KEYS[1], seats = KEYS[2], meta = KEYS[3],
             events = KEYS[4], opened = KEYS[6], prefix = ARGV[1],
             maxlen = ARGV[3], replica = ARGV[4]}
local id = ARGV[5]
if id == '' then
  if redis.call('EXISTS', KEYS[7]) == 1 then return {8} end
  id = redis.call('GET', KEYS[5])
end
if not id then return {5, 0, 0} end

local now = now_ms()
local expiry = redis.call('ZSCORE', ctx.slots, id)
if not expiry then return {5, 0, 0} end
-- -2: the key is gone; -1: a key that lost its TTL (damage, see
-- `sessionctl check`), which is still an open session to close.
local at = redis.call('PEXPIRETIME', ctx.prefix .. 'session:' .. id)
if at == -2 or (at >= 0 and at <= now) then
  -- Already expired, not yet reaped: closed by time, not by this call.
  local m = meta_of(ctx, id)
  local reason = expiry_reason(m.d, tonumber(expiry))
  end_session(ctx, id, reason)
  if reason == 'idle' then return {5, 1, 0} end
  return {5, 0, 1}
end
if ARGV[6] == '1' and
   redis.call('HGET', ctx.prefix .. 'session:' .. id, 'requests') ~= '1' then
  return {5, 0, 0}
end
end_session(ctx, id, ARGV[2])
return {4, id}
