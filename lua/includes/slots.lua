-- Slot bookkeeping shared by every script that claims or frees a slot.
-- The slots sorted set holds one member per open session (its public id),
-- scored by the session's effective expiry in ms. Usage is the number of
-- members scored above now; members at or below now are expired and are
-- removed in bounded batches by reap().

-- Number of open sessions at time now.
local function slots_used(slots, now)
  return redis.call('ZCOUNT', slots, '(' .. now, '+inf')
end

-- Removes up to batch expired members; returns how many were removed.
local function slots_reap(slots, now, batch)
  local expired = redis.call('ZRANGEBYSCORE', slots, '-inf', now,
                             'LIMIT', 0, batch)
  if #expired > 0 then
    redis.call('ZREM', slots, unpack(expired))
  end
  return #expired
end

-- Keeps the set's own TTL at or past its latest member, so the set never
-- lives without a TTL (SPEC §4) and disappears with its last session.
local function slots_cover(slots, expires)
  if redis.call('PEXPIRETIME', slots) < expires then
    redis.call('PEXPIREAT', slots, expires)
  end
end

-- The pool's limit; seeds it from the configured default when the pool
-- settings are missing (first start, or a Redis that lost its data).
local function pool_limit(pool, default_limit)
  local limit = redis.call('HGET', pool, 'limit')
  if not limit then
    redis.call('HSET', pool, 'limit', default_limit)
    limit = default_limit
  end
  return tonumber(limit)
end
