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

-- Keeps a key's own TTL at or past expires, so bookkeeping keys never live
-- without a TTL (SPEC §4) and vanish with their last session.
local function cover(key, expires)
  if redis.call('PEXPIRETIME', key) < expires then
    redis.call('PEXPIREAT', key, expires)
  end
end

-- The pool's limit, or the configured default while the settings are
-- missing (the worker seeds them with seed-2.lua on connect and on every
-- sweep, so a Redis that lost its data gets them back within one sweep).
local function pool_limit(pool, default_limit)
  return tonumber(redis.call('HGET', pool, 'limit') or default_limit)
end

-- Key of the sorted set of one subject's sessions (per-subject cap).
local function subject_key(prefix, subject)
  return prefix .. 'subject:' .. redis.sha1hex(subject)
end
