-- Slot bookkeeping shared by every script that claims, frees or counts a
-- slot. The slots sorted set holds one member per open session (its public
-- id) scored by the session's effective expiry in ms; usage is the number of
-- members scored above now. The seats sorted set holds, for each reserved
-- subject that has a session on its reserved seat, subject -> that session's
-- expiry. Members at or below now are expired.

-- Number of members of a sorted set still open at time now.
local function open_count(zset, now)
  return redis.call('ZCOUNT', zset, '(' .. now, '+inf')
end

-- Score of the member that expires first after now, or nil.
local function earliest_expiry(zset, now)
  local first = redis.call('ZRANGEBYSCORE', zset, '(' .. now, '+inf',
                           'WITHSCORES', 'LIMIT', 0, 1)
  if first[2] then return tonumber(first[2]) end
  return nil
end

-- How long the bookkeeping keys (slots, seats, meta, subject sets) outlive
-- their last session: long enough for the sweep to reap its slot and record
-- its "closed" event, short enough that an abandoned instance's keys go.
local KEEP_AFTER_MS = 600000

-- An integer as the decimal string Redis wants. Lua numbers passed to
-- redis.call are formatted with "%.17g", which costs more than the command
-- itself on the hot path; string.format's %d does not.
local function int(n)
  return string.format('%d', n)
end

-- Keeps a bookkeeping key's own TTL at or past expires + KEEP_AFTER_MS, so
-- it never lives without a TTL (SPEC §4) and vanishes after its last
-- session has been reaped. When it has to move it moves twice as far, so
-- the resumes of the next KEEP_AFTER_MS find it far enough and only look.
local function cover(key, expires)
  local until_ms = expires + KEEP_AFTER_MS
  if redis.call('PEXPIRETIME', key) < until_ms then
    redis.call('PEXPIREAT', key, int(until_ms + KEEP_AFTER_MS))
  end
end

-- The slots, meta and opened keys hold the same open sessions and are
-- covered together by every open and resume, so one look at the slots
-- key's TTL tells whether the three need moving (a resume's common case:
-- one PEXPIRETIME instead of three).
local function cover_index(ctx, expires)
  if redis.call('PEXPIRETIME', ctx.slots) < expires + KEEP_AFTER_MS then
    cover(ctx.slots, expires)
    cover(ctx.meta, expires)
    cover(ctx.opened, expires)
  end
end

-- The pool's limit, or the configured default while the settings are
-- missing (the worker seeds them with seed-2.lua on connect and on every
-- sweep, so a Redis that lost its data gets them back within one sweep).
--
-- A value that is not a whole number >= 0 (an operator's typo through
-- redis-cli) also falls back to the configured default rather than failing
-- every claim; `sessionctl check` reports it as bad_limit.
local function pool_limit(pool, default_limit)
  local limit = tonumber(redis.call('HGET', pool, 'limit'))
  if limit and limit >= 0 and limit == math.floor(limit) then return limit end
  return tonumber(default_limit)
end

-- Key of the sorted set of one subject's sessions (per-subject cap).
local function subject_key(prefix, subject)
  return prefix .. 'subject:' .. redis.sha1hex(subject)
end
