--[[
  Opens the session of a binding, or resumes it when one is open (SPEC §1, §4).

  Resume: pushes the idle deadline to now + sliding (never past the absolute
  deadline), bumps last_seen and requests. Open: reaps expired slots, checks
  the license limit, and creates the session hash, the binding key and the
  slot entry, all expiring at the session's effective expiry.

  KEYS[1] pool      hash of pool settings ("limit"); no TTL
  KEYS[2] slots     sorted set: session id -> effective expiry (ms)
  KEYS[3] binding   string: binding -> session id

  ARGV[1] key prefix of the instance, e.g. "sd:{acme}:" (session keys are
          prefix .. "session:" .. id: same hash tag, same cluster slot)
  ARGV[2] id for a new session (random, made by the caller)
  ARGV[3] sliding (idle) time-out, ms
  ARGV[4] absolute lifetime, ms; 0 = none
  ARGV[5] subject ("" for none)
  ARGV[6] client id ("" for none)
  ARGV[7] kind: "interactive" or "service"
  ARGV[8] binding description (stored for operators, e.g. "sid:abc")
  ARGV[9] default license limit (seeds the pool when it has none)
  ARGV[10] reap batch: most expired slots removed by this call
  ARGV[11] "1" to return usage with an opened or resumed session, else "0"

  Returns one of (codes mirror enum sd_script_result in src/store/script_result.h):
    {1, id, opened_at, expires_at, requests, used, limit}   opened
    {2, id, opened_at, expires_at, requests, used, limit}   resumed
    {3, retry_after_ms, used, limit}                        denied: pool full
  used and limit are -1 when ARGV[11] is "0". retry_after_ms is -1 when no
  open session will ever free a slot (limit 0).
]]
--@include "includes/clock.lua"
--@include "includes/slots.lua"

local pool, slots, binding = KEYS[1], KEYS[2], KEYS[3]
local prefix, new_id = ARGV[1], ARGV[2]
local sliding, absolute = tonumber(ARGV[3]), tonumber(ARGV[4])
local want_usage = ARGV[11] == '1'

local now = now_ms()

local function usage()
  if not want_usage then return -1, -1 end
  return slots_used(slots, now), pool_limit(pool, ARGV[9])
end

-- Resume. The session key's expiry is the session's effective expiry, so a
-- key still expiring after now is an open session.
local id = redis.call('GET', binding)
if id then
  local session = prefix .. 'session:' .. id
  if redis.call('PEXPIRETIME', session) > now then
    local fields = redis.call('HMGET', session, 'opened_at', 'absolute_deadline')
    local deadline = tonumber(fields[2])
    local expires = now + sliding
    if deadline > 0 and deadline < expires then expires = deadline end
    redis.call('HSET', session, 'last_seen', now)
    local requests = redis.call('HINCRBY', session, 'requests', 1)
    redis.call('PEXPIREAT', session, expires)
    redis.call('PEXPIREAT', binding, expires)
    redis.call('ZADD', slots, expires, id)
    slots_cover(slots, expires)
    local used, limit = usage()
    return {2, id, tonumber(fields[1]), expires, requests, used, limit}
  end
  -- Expiring this very millisecond: closed, its slot is free.
  redis.call('DEL', session, binding)
  redis.call('ZREM', slots, id)
end

-- Open.
slots_reap(slots, now, tonumber(ARGV[10]))
local used = slots_used(slots, now)
local limit = pool_limit(pool, ARGV[9])
if used >= limit then
  local first = redis.call('ZRANGEBYSCORE', slots, '(' .. now, '+inf',
                           'WITHSCORES', 'LIMIT', 0, 1)
  local retry_after = -1
  if first[2] then retry_after = tonumber(first[2]) - now end
  return {3, retry_after, used, limit}
end

local deadline = 0
local expires = now + sliding
if absolute > 0 then
  deadline = now + absolute
  if deadline < expires then expires = deadline end
end
local session = prefix .. 'session:' .. new_id
redis.call('HSET', session,
           'id', new_id, 'subject', ARGV[5], 'client_id', ARGV[6],
           'kind', ARGV[7], 'binding', ARGV[8], 'opened_at', now,
           'last_seen', now, 'absolute_deadline', deadline, 'requests', 1)
redis.call('PEXPIREAT', session, expires)
redis.call('SET', binding, new_id, 'PXAT', expires)
redis.call('ZADD', slots, expires, new_id)
slots_cover(slots, expires)
if want_usage then used = used + 1 else used, limit = -1, -1 end
return {1, new_id, now, expires, 1, used, limit}
