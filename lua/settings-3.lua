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
  ARGV[5]    the subjects for "replace", "add" or "remove", as a JSON array
             of strings (one argument however many there are); a subject
             named twice counts, is stored and is recorded once

  Returns {12, limit, reserved}: the settings after the change (limit -1
  when the pool has none). A "settings" event records every change.
  Errors, with nothing changed: {err = "bad limit"}, {err = "bad mode"},
  {err = "bad subjects"}, {err = "more reserved subjects than licenses"}
  (a seat promised to each could not be kept).
]]

local pool, reserved, events = KEYS[1], KEYS[2], KEYS[3]
local mode = ARGV[4]
local ok, subjects = pcall(cjson.decode, ARGV[5] or '[]')
if not ok or type(subjects) ~= 'table' then return redis.error_reply('bad subjects') end
-- Duplicates are dropped (first one kept, order kept), so the stored set,
-- the counts and the event all name each subject once.
local unique, seen = {}, {}
for _, s in ipairs(subjects) do
  if type(s) ~= 'string' or s == '' then return redis.error_reply('bad subjects') end
  if not seen[s] then
    seen[s] = true
    unique[#unique + 1] = s
  end
end
subjects = unique
if mode ~= 'keep' and mode ~= 'replace' and mode ~= 'add' and mode ~= 'remove' then
  return redis.error_reply('bad mode')
end
if ARGV[3] ~= '' and (not string.match(ARGV[3], '^%d+$') or #ARGV[3] > 15) then
  return redis.error_reply('bad limit')
end

-- The promise must stay keepable: no more reserved subjects than licenses.
local new_limit = tonumber(ARGV[3]) or tonumber(redis.call('HGET', pool, 'limit'))
local count = redis.call('SCARD', reserved)
if mode == 'replace' then
  count = #subjects
elseif mode == 'add' then
  for _, s in ipairs(subjects) do
    if redis.call('SISMEMBER', reserved, s) == 0 then count = count + 1 end
  end
end
if new_limit and mode ~= 'remove' and count > new_limit then
  return redis.error_reply('more reserved subjects than licenses')
end

-- SADD/SREM in slices: unpack() of a long list would overflow Lua's stack.
local function each_slice(command)
  for first = 1, #subjects, 500 do
    redis.call(command, reserved,
               unpack(subjects, first, math.min(first + 499, #subjects)))
  end
end

if ARGV[3] ~= '' then redis.call('HSET', pool, 'limit', ARGV[3]) end
if mode == 'replace' then
  redis.call('DEL', reserved)
  each_slice('SADD')
elseif mode == 'add' then
  each_slice('SADD')
elseif mode == 'remove' then
  each_slice('SREM')
end

local limit = tonumber(redis.call('HGET', pool, 'limit')) or -1
local count = redis.call('SCARD', reserved)
redis.call('XADD', events, 'MAXLEN', '~', ARGV[1], '*', 'type', 'settings',
           'replica', ARGV[2], 'limit', limit, 'reserved', count,
           'change', mode, 'subjects', table.concat(subjects, ','))
return {12, limit, count}
