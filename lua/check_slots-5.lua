--[[
  Checks one batch of an instance's slot entries against SPEC §4's
  invariants, atomically, for `sessionctl check`. Batches go by rank in the
  slots sorted set, so a whole scan never blocks Redis for long; sessions
  opening or closing between batches may be seen twice or not at all, which
  is harmless for finding damage that persists.

  KEYS[1] slots     sorted set: session id -> effective expiry (ms)
  KEYS[2] opened    sorted set: session id -> opened at (ms)
  KEYS[3] meta      hash: session id -> JSON record
  KEYS[4] pool      hash of pool settings ("limit")
  KEYS[5] reserved  set of reserved subjects

  ARGV[1] key prefix of the instance, e.g. "sd:{acme}:"
  ARGV[2] rank of the first entry of this batch (0 starts a scan)
  ARGV[3] batch size
  ARGV[4] grace, ms: how long past its expiry an entry may wait for the
          sweep before it counts as leaked (the sweep interval plus margin)

  Returns {14, next_rank, problems}: next_rank is -1 after the last batch;
  problems is a flat list of (kind, subject key or id, detail) triples:
    stale_slot            expired longer than the grace ago, never reaped
    slot_without_session  the slot is live but its session key is gone
    ttl_mismatch          the session key expires at another time than its slot
    binding_mismatch      the session's binding names another session
    not_indexed           missing from the opened index
    no_meta               missing its meta record
    over_limit            more open sessions than the limit (first batch only)
    bad_limit             the pool's limit is not a whole number >= 0 (the
                          workers use the configured default meanwhile)
]]
--@include "includes/clock.lua"
--@include "includes/slots.lua"

local slots, opened, meta = KEYS[1], KEYS[2], KEYS[3]
local prefix = ARGV[1]
local first, batch, grace = tonumber(ARGV[2]), tonumber(ARGV[3]),
                            tonumber(ARGV[4])
local now = now_ms()
local problems = {}
local function report(kind, what, detail)
  problems[#problems + 1] = kind
  problems[#problems + 1] = what
  problems[#problems + 1] = tostring(detail)
end

if first == 0 then
  local used = open_count(slots, now)
  local raw = redis.call('HGET', KEYS[4], 'limit')
  local limit = tonumber(raw) or -1
  if raw and (limit < 0 or limit ~= math.floor(limit)) then
    report('bad_limit', KEYS[4], 'limit is "' .. raw .. '"')
    limit = -1
  end
  if limit >= 0 and used > limit then
    report('over_limit', KEYS[4], used .. ' open > limit ' .. limit)
  end
end

local entries = redis.call('ZRANGE', slots, first, first + batch - 1,
                           'WITHSCORES')
for i = 1, #entries, 2 do
  local id, expiry = entries[i], tonumber(entries[i + 1])
  local key = prefix .. 'session:' .. id
  if expiry <= now - grace then
    report('stale_slot', id, 'expired ' .. (now - expiry) .. ' ms ago')
  elseif expiry > now then
    -- -2: no such key; -1: a key without a TTL (also a no_ttl problem).
    local at = redis.call('PEXPIRETIME', key)
    if at == -2 then
      report('slot_without_session', id, 'slot live until ' .. expiry)
    else
      if at ~= expiry then
        report('ttl_mismatch', id, 'key expires ' .. at .. ', slot ' .. expiry)
      end
      local binding = redis.call('HGET', key, 'binding_key')
      if not binding or redis.call('GET', binding) ~= id then
        report('binding_mismatch', id, tostring(binding))
      end
      if not redis.call('ZSCORE', opened, id) then
        report('not_indexed', id, 'absent from ' .. opened)
      end
      if redis.call('HEXISTS', meta, id) == 0 then
        report('no_meta', id, 'absent from ' .. meta)
      end
    end
  end
end
local next_rank = -1
if #entries == 2 * batch then next_rank = first + batch end
return {14, next_rank, problems}
