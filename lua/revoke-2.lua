--[[
  Revokes one access token by its jti until the token's own expiry (SPEC §3):
  a revoked token is refused with 401 even when a worker has its
  verification cached. Its session stays open and keeps its slot until it
  closes (SPEC §1): revoking a token does not free a license.

  KEYS[1] revoked   string key of the jti, "sd:{<instance>}:revoked:<jti>"
  KEYS[2] events    capped stream of lifecycle events

  ARGV[1] the token's exp, ms since the epoch: the revocation lasts until then
  ARGV[2] the jti, recorded in the event
  ARGV[3] event stream length cap (approximate)
  ARGV[4] who revoked it, recorded in the event

  Returns {13, 1} when recorded, {13, 0} when exp has already passed (the
  token is dead anyway; nothing is stored, so no key outlives its use).
]]
--@include "includes/clock.lua"

local until_ms = tonumber(ARGV[1])
if not until_ms or until_ms <= now_ms() then return {13, 0} end
redis.call('SET', KEYS[1], '1', 'PXAT', until_ms)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'type', 'revoked',
           'replica', ARGV[4], 'jti', ARGV[2], 'until', until_ms)
return {13, 1}
