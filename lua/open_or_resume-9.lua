--[[
  Opens the session of a binding, or resumes it when one is open (SPEC §1,
  §3, §4). Every licensing rule is decided here, in one atomic call.

  Resume: pushes the idle deadline to now + sliding (never past the absolute
  deadline) and counts the request. Open: reaps expired slots, then admits
  the session if
    - the subject is under its per-subject cap (when one is set), and
    - fewer than `limit` sessions are open, and
    - it takes its subject's reserved seat, or the shared pool
      (limit - number of reserved subjects) has room.
  A token whose jti is revoked is refused; its session stays open.

  KEYS[1] pool      hash of pool settings: "limit"; no TTL
  KEYS[2] reserved  set of reserved subjects; no TTL
  KEYS[3] slots     sorted set: session id -> effective expiry (ms)
  KEYS[4] seats     sorted set: reserved subject -> expiry of its seat session
  KEYS[5] meta      hash: session id -> JSON record used when it is reaped
  KEYS[6] events    capped stream of lifecycle events
  KEYS[7] binding   string: binding -> session id
  KEYS[8] revoked   string key of the token's jti revocation (exists = revoked)
  KEYS[9] opened    sorted set: session id -> opened at (ms), for listing

  ARGV[1]  key prefix of the instance, e.g. "sd:{acme}:" (session keys are
           prefix .. "session:" .. id and subject sets prefix .. "subject:" ..
           sha1(subject): same hash tag, same cluster slot)
  ARGV[2]  id for a new session (random, made by the caller)
  ARGV[3]  sliding (idle) time-out, ms
  ARGV[4]  absolute lifetime, ms; 0 = none
  ARGV[5]  subject ("" for none)
  ARGV[6]  client id ("" for none)
  ARGV[7]  kind: "interactive" or "service"
  ARGV[8]  binding description (stored for operators, e.g. "sid:abc")
  ARGV[9]  default license limit (used while the pool has none)
  ARGV[10] reap batch: most expired slots removed by this call
  ARGV[11] "1" to return usage with an opened or resumed session, else "0"
  ARGV[12] per-subject session cap; 0 = none
  ARGV[13] event stream length cap (approximate)
  ARGV[14] replica id, recorded in events
  ARGV[15] deadline on Redis's clock (ms): a call that runs later than this
           was already answered 503 by its worker (Redis stalled), so it
           does nothing; 0 = none

  Returns one of (codes mirror enum sd_script_result in src/store/script_result.h):
    {1, id, opened_at, expires_at, requests, used, limit, idle, absolute}  opened
    {2, id, opened_at, expires_at, requests, used, limit, idle, absolute}  resumed
    {3, retry_after_ms, used, limit, reason, idle, absolute}               denied
    {3, retry_after_ms, used, limit, reason, idle, absolute,
        subject_sessions, subject_cap}                           denied (subject)
    {8}                                                                    revoked
    {16}                                                                   too late
  used and limit are -1 when ARGV[11] is "0". reason is "license_limit" or
  "subject_limit"; a subject_limit denial adds the subject's open sessions
  and its cap (ARGV[12]). retry_after_ms is -1 when no open session will ever free
  a slot (limit 0). idle and absolute count the expired sessions this call
  closed on the way (reaped), by how they ended, for the worker's metrics.
]]
--@include "includes/clock.lua"
--@include "includes/slots.lua"
--@include "includes/lifecycle.lua"

local pool, reserved, binding, revoked = KEYS[1], KEYS[2], KEYS[7], KEYS[8]
local ctx = {slots = KEYS[3], seats = KEYS[4], meta = KEYS[5],
             events = KEYS[6], opened = KEYS[9], prefix = ARGV[1],
             maxlen = ARGV[13], replica = ARGV[14]}
local new_id, subject, client, kind = ARGV[2], ARGV[5], ARGV[6], ARGV[7]
local sliding, absolute = tonumber(ARGV[3]), tonumber(ARGV[4])
local want_usage = ARGV[11] == '1'
local subject_cap = tonumber(ARGV[12])

local now = now_ms()
local deadline_ms = tonumber(ARGV[15])
if deadline_ms > 0 and now > deadline_ms then return {16} end

if redis.call('EXISTS', revoked) == 1 then return {8} end
local closed_idle, closed_absolute = 0, 0

local function usage()
  if not want_usage then return -1, -1 end
  return open_count(ctx.slots, now), pool_limit(pool, ARGV[9])
end

-- Resume. The session key's expiry is the session's effective expiry, and
-- Redis never shows a key past its expiry, so a session key that is there
-- is an open session (one that lost its TTL, which is damage, too:
-- resuming repairs it). The hot path: 9 commands, integers as strings.
local id = redis.call('GET', binding)
if id then
  local session = ctx.prefix .. 'session:' .. id
  local f = redis.call('HMGET', session, 'opened_at', 'absolute_deadline',
                       'seat', 'requests')
  if f[1] then
    local deadline = tonumber(f[2])
    local expires = now + sliding
    if deadline > 0 and deadline < expires then expires = deadline end
    local requests = (tonumber(f[4]) or 0) + 1
    local at = int(expires)
    redis.call('HSET', session, 'last_seen', int(now), 'requests', int(requests))
    redis.call('PEXPIREAT', session, at)
    redis.call('PEXPIREAT', binding, at)
    redis.call('ZADD', ctx.slots, at, id)
    cover_index(ctx, expires)
    if f[3] == 'reserved' then
      redis.call('ZADD', ctx.seats, 'XX', at, subject)
      cover(ctx.seats, expires)
    end
    if subject_cap > 0 and subject ~= '' then
      local sk = subject_key(ctx.prefix, subject)
      redis.call('ZADD', sk, at, id)
      cover(sk, expires)
    end
    local used, limit = usage()
    return {2, id, tonumber(f[1]), expires, requests, used, limit, 0, 0}
  end
  -- Expired this very millisecond: it is closed. Unless its slot is gone
  -- already: a reap (the sweep, another claim) takes slots scored at now,
  -- while Redis keeps the key until now has passed, and that reap wrote
  -- the one "closed" event; the leftover keys expire on their own.
  local expiry = redis.call('ZSCORE', ctx.slots, id)
  if expiry then
    local reason = expiry_reason(meta_of(ctx, id).d, tonumber(expiry))
    end_session(ctx, id, reason)
    if reason == 'idle' then closed_idle = 1 else closed_absolute = 1 end
  end
end

-- Open.
local _, reaped_idle, reaped_absolute = reap(ctx, now, tonumber(ARGV[10]))
closed_idle = closed_idle + reaped_idle
closed_absolute = closed_absolute + reaped_absolute
local limit = pool_limit(pool, ARGV[9])
local used = open_count(ctx.slots, now)

local function deny(reason, earliest)
  local retry_after = -1
  if earliest then retry_after = earliest - now end
  emit(ctx, 'denied', 'reason', reason, 'subject', subject,
       'client_id', client, 'kind', kind, 'used', used, 'limit', limit)
  return {3, retry_after, used, limit, reason, closed_idle, closed_absolute}
end

local sk
if subject_cap > 0 and subject ~= '' then
  sk = subject_key(ctx.prefix, subject)
  redis.call('ZREMRANGEBYSCORE', sk, '-inf', now)
  local held = redis.call('ZCARD', sk)
  if held >= subject_cap then
    local denied = deny('subject_limit', earliest_expiry(sk, now))
    denied[8], denied[9] = held, subject_cap
    return denied
  end
end

-- The hard cap holds whatever the reserved list says (it may change live).
if used >= limit then
  return deny('license_limit', earliest_expiry(ctx.slots, now))
end
local seat = 'shared'
if subject ~= '' and redis.call('SISMEMBER', reserved, subject) == 1 and
   not redis.call('ZSCORE', ctx.seats, subject) then
  seat = 'reserved'
else
  -- Seats held right now are not shared; seats not yet taken stay free.
  local shared_cap = limit - redis.call('SCARD', reserved)
  local shared_used = used - open_count(ctx.seats, now)
  if shared_used >= shared_cap then
    return deny('license_limit', earliest_expiry(ctx.slots, now))
  end
end

local deadline = 0
local expires = now + sliding
if absolute > 0 then
  deadline = now + absolute
  if deadline < expires then expires = deadline end
end
local session = ctx.prefix .. 'session:' .. new_id
local at, now_s = int(expires), int(now)
redis.call('HSET', session,
           'id', new_id, 'subject', subject, 'client_id', client,
           'kind', kind, 'seat', seat, 'binding', ARGV[8],
           'binding_key', binding, 'opened_at', now_s, 'last_seen', now_s,
           'absolute_deadline', int(deadline), 'requests', '1')
redis.call('PEXPIREAT', session, at)
redis.call('SET', binding, new_id, 'PXAT', at)
redis.call('ZADD', ctx.slots, at, new_id)
cover(ctx.slots, expires)
redis.call('HSET', ctx.meta, new_id,
           cjson.encode({s = subject, c = client, k = kind, d = deadline,
                         t = seat}))
cover(ctx.meta, expires)
redis.call('ZADD', ctx.opened, now_s, new_id)
cover(ctx.opened, expires)
if seat == 'reserved' then
  redis.call('ZADD', ctx.seats, at, subject)
  cover(ctx.seats, expires)
end
if sk then
  redis.call('ZADD', sk, at, new_id)
  cover(sk, expires)
end
emit(ctx, 'opened', 'id', new_id, 'subject', subject, 'client_id', client,
     'kind', kind, 'seat', seat, 'binding', ARGV[8])
if want_usage then used = used + 1 else used, limit = -1, -1 end
return {1, new_id, now, expires, 1, used, limit, closed_idle, closed_absolute}
