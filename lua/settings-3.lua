--[[
  Changes an instance's pool settings live (sessionctl, admin API): the
  license limit and the reserved subjects. Every replica reads them on its
  next claim. Open sessions are never closed by a change: a lower limit or a
  longer reserved list only refuses new sessions until enough have ended.

  KEYS[1] pool      hash of pool settings ("limit"); no TTL
  KEYS[2] reserved  set of reserved subjects; no TTL
  KEYS[3] events    capped stream of lifecycle events

  ARGV[1]    event stream length cap (approximate)
  ARGV[2]    who made the change, recorded in the event (replica or "sessionctl")
  ARGV[3]    new limit (digits), or "" to keep it
  ARGV[4]    reserved list change: "keep", "replace", "add" or "remove"
  ARGV[5..n] subjects for "replace", "add" or "remove"

  Returns {12, limit, reserved}: the settings after the change (limit -1
  when the pool has none). A "settings" event records every change.
  Errors: {err = "bad limit"}, {err = "bad mode"}.
]]

local pool, reserved, events = KEYS[1], KEYS[2], KEYS[3]
local mode = ARGV[4]
local subjects = {}
for i = 5, #ARGV do subjects[#subjects + 1] = ARGV[i] end

if ARGV[3] ~= '' then
  if not string.match(ARGV[3], '^%d+$') or #ARGV[3] > 15 then
    return redis.error_reply('bad limit')
  end
  redis.call('HSET', pool, 'limit', ARGV[3])
end
if mode == 'replace' then
  redis.call('DEL', reserved)
  if #subjects > 0 then redis.call('SADD', reserved, unpack(subjects)) end
elseif mode == 'add' then
  if #subjects > 0 then redis.call('SADD', reserved, unpack(subjects)) end
elseif mode == 'remove' then
  if #subjects > 0 then redis.call('SREM', reserved, unpack(subjects)) end
elseif mode ~= 'keep' then
  return redis.error_reply('bad mode')
end

local limit = tonumber(redis.call('HGET', pool, 'limit')) or -1
local count = redis.call('SCARD', reserved)
redis.call('XADD', events, 'MAXLEN', '~', ARGV[1], '*', 'type', 'settings',
           'replica', ARGV[2], 'limit', limit, 'reserved', count,
           'change', mode, 'subjects', table.concat(subjects, ','))
return {12, limit, count}
