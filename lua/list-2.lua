--[[
  Lists one page of an instance's open sessions, newest first, for
  operators ("who holds the licenses right now, and since when?").

  Paging is by a cursor, not by rank, so sessions that open or close between
  two pages neither shift nor repeat the others: the cursor is
  "<opened_at>:<id>" of the last session returned, and the next page starts
  strictly after it in (opened_at desc, id desc) order.

  KEYS[1] opened    sorted set: session id -> opened at (ms)
  KEYS[2] slots     sorted set: session id -> effective expiry (ms)

  ARGV[1] key prefix of the instance, e.g. "sd:{acme}:"
  ARGV[2] cursor: "" for the newest session, else one returned before
  ARGV[3] page size (1..1000)

  Returns {10, next_cursor, now_ms, open, sessions}: next_cursor is "" on
  the last page; open counts every open session of the instance; sessions
  is a list of flat field/value lists (the session hash as HGETALL returns
  it, plus "expires_at" and "ttl_ms"). An id whose key has already expired
  (not reaped yet) is skipped.
  Errors: {err = "bad cursor"} for a cursor of the wrong shape.
]]
--@include "includes/clock.lua"
--@include "includes/slots.lua"

local opened, slots, prefix = KEYS[1], KEYS[2], ARGV[1]
local count = tonumber(ARGV[3])
local now = now_ms()

local max_score, after_id = '+inf', nil
if ARGV[2] ~= '' then
  local score, id = string.match(ARGV[2], '^(%d+):(.+)$')
  if not score then return redis.error_reply('bad cursor') end
  max_score, after_id = score, id
end

-- Members sharing the cursor's score come in descending id order; those at
-- or above the cursor's id were on earlier pages. Fetching count + ties
-- covers the skipped ones.
local ties = 0
if after_id then ties = redis.call('ZCOUNT', opened, max_score, max_score) end
local page = redis.call('ZREVRANGEBYSCORE', opened, max_score, '-inf',
                        'WITHSCORES', 'LIMIT', 0, count + ties + 1)
local out, last, more = {}, nil, false
for i = 1, #page, 2 do
  local id, score = page[i], page[i + 1]
  local skip = after_id and score == max_score and id >= after_id
  if not skip then
    if #out == count then more = true; break end
    local key = prefix .. 'session:' .. id
    local ttl = redis.call('PTTL', key)
    if ttl > 0 then
      local fields = redis.call('HGETALL', key)
      fields[#fields + 1] = 'expires_at'
      fields[#fields + 1] = redis.call('ZSCORE', slots, id) or ''
      fields[#fields + 1] = 'ttl_ms'
      fields[#fields + 1] = tostring(ttl)
      out[#out + 1] = fields
    end
    last = score .. ':' .. id
  end
end
local next_cursor = ''
if more and last then next_cursor = last end
return {10, next_cursor, now, open_count(slots, now), out}
