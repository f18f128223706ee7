-- How sessions end, and the lifecycle event stream (SPEC §4). Every path that
-- removes a session goes through end_session() or reap(), so each closed
-- session gets exactly one "closed" event.
--
-- ctx is a table {slots, seats, meta, opened, events, maxlen, replica,
-- prefix}: the instance's bookkeeping keys and event settings. The opened
-- sorted set indexes open sessions by opening time (ms), for listing them
-- newest first. The meta hash maps an
-- open session id to a small JSON record {s = subject, c = client_id,
-- k = kind, d = absolute deadline, t = seat}, which is all that is left to
-- describe a session once its own key has expired.

-- Appends one event to the capped stream.
local function emit(ctx, kind, ...)
  redis.call('XADD', ctx.events, 'MAXLEN', '~', ctx.maxlen, '*',
             'type', kind, 'replica', ctx.replica, ...)
end

-- Why a session that expired at `expiry` ended.
local function expiry_reason(deadline, expiry)
  if deadline > 0 and expiry >= deadline then return 'absolute' end
  return 'idle'
end

local function meta_of(ctx, id)
  local m = redis.call('HGET', ctx.meta, id)
  if m then return cjson.decode(m) end
  return {s = '', c = '', k = '', d = 0, t = 'shared'}
end

-- Closes session id now: removes its key, binding, slot, seat and meta, and
-- records why. Safe on a session whose key has already expired.
local function end_session(ctx, id, reason)
  local session = ctx.prefix .. 'session:' .. id
  local f = redis.call('HMGET', session, 'binding_key')
  local m = meta_of(ctx, id)
  if f[1] and redis.call('GET', f[1]) == id then redis.call('DEL', f[1]) end
  -- The subject's seat entry is this session's only while their expiries
  -- match: an expired seat holder may already have a successor.
  local expiry = redis.call('ZSCORE', ctx.slots, id)
  if m.t == 'reserved' and expiry and
     redis.call('ZSCORE', ctx.seats, m.s) == expiry then
    redis.call('ZREM', ctx.seats, m.s)
  end
  redis.call('DEL', session)
  redis.call('ZREM', ctx.slots, id)
  redis.call('HDEL', ctx.meta, id)
  redis.call('ZREM', ctx.opened, id)
  if m.s ~= '' then redis.call('ZREM', subject_key(ctx.prefix, m.s), id) end
  emit(ctx, 'closed', 'id', id, 'reason', reason, 'subject', m.s,
       'client_id', m.c, 'kind', m.k)
end

-- Removes up to batch expired slots, each with its "closed" event (idle or
-- absolute). Their session keys have expired on their own; a binding key
-- expires with its session. Returns how many were removed, and of those how
-- many ended idle and how many at their absolute deadline (for metrics).
local function reap(ctx, now, batch)
  local expired = redis.call('ZRANGEBYSCORE', ctx.slots, '-inf', now,
                             'WITHSCORES', 'LIMIT', 0, batch)
  local ids = {}
  local idle, absolute = 0, 0
  for i = 1, #expired, 2 do
    local id, expiry = expired[i], tonumber(expired[i + 1])
    local m = meta_of(ctx, id)
    local reason = expiry_reason(m.d, expiry)
    if reason == 'idle' then idle = idle + 1 else absolute = absolute + 1 end
    ids[#ids + 1] = id
    emit(ctx, 'closed', 'id', id, 'reason', reason,
         'subject', m.s, 'client_id', m.c, 'kind', m.k)
  end
  if #ids > 0 then
    redis.call('ZREM', ctx.slots, unpack(ids))
    redis.call('HDEL', ctx.meta, unpack(ids))
    redis.call('ZREM', ctx.opened, unpack(ids))
  end
  redis.call('ZREMRANGEBYSCORE', ctx.seats, '-inf', now)
  return #ids, idle, absolute
end
