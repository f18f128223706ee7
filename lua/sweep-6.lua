--[[
  Removes a bounded batch of expired slot entries and records a "closed"
  event (idle or absolute) for each, so usage stays exact and every expiry
  is seen even when no new session is claimed (SPEC §4: no slot outlives its
  session's expiry by more than one sweep interval). Also reports usage, so
  the worker's gauges cost no extra round trip.

  KEYS[1] slots     sorted set: session id -> effective expiry (ms)
  KEYS[2] seats     sorted set: reserved subject -> expiry of its seat session
  KEYS[3] meta      hash: session id -> JSON record
  KEYS[4] events    capped stream of lifecycle events
  KEYS[5] opened    sorted set: session id -> opened at (ms)
  KEYS[6] pool      hash of pool settings ("limit")

  ARGV[1] key prefix of the instance, e.g. "sd:{acme}:"
  ARGV[2] batch: most entries removed by this call
  ARGV[3] event stream length cap (approximate)
  ARGV[4] replica id, recorded in events
  ARGV[5] default license limit (reported while the pool has none)

  Returns {6, removed, remaining_expired, idle, absolute, used, limit}:
  remaining_expired > 0 tells the caller to sweep again soon; idle and
  absolute split removed by how the sessions ended.
]]
--@include "includes/clock.lua"
--@include "includes/slots.lua"
--@include "includes/lifecycle.lua"

local ctx = {slots = KEYS[1], seats = KEYS[2], meta = KEYS[3],
             events = KEYS[4], opened = KEYS[5], prefix = ARGV[1],
             maxlen = ARGV[3], replica = ARGV[4]}
local now = now_ms()
local removed, idle, absolute = reap(ctx, now, tonumber(ARGV[2]))
local left = redis.call('ZCOUNT', ctx.slots, '-inf', now)
return {6, removed, left, idle, absolute, open_count(ctx.slots, now),
        pool_limit(KEYS[6], ARGV[5])}
