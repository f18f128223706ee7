--[[
  Checks one SCAN step of an instance's keys against SPEC §4's invariants,
  atomically, for `sessionctl check`: every key but the pool settings and
  the event stream has a TTL, and every session key holds a slot.

  KEYS[1] slots     sorted set: session id -> effective expiry (ms)

  ARGV[1] key prefix of the instance, e.g. "sd:{acme}:"
  ARGV[2] SCAN cursor ("0" starts a scan)
  ARGV[3] SCAN COUNT hint

  Returns {15, next_cursor, keys_seen, problems}: next_cursor is "0" after
  the last step; problems is a flat list of (kind, key, detail) triples:
    no_ttl                 a key that must expire has no TTL
    session_without_slot   a session key with no entry in the slots set
]]

local slots, prefix = KEYS[1], ARGV[1]
-- Keys that live without a TTL by design (SPEC §4).
local permanent = {[prefix .. 'pool'] = true, [prefix .. 'reserved'] = true,
                   [prefix .. 'events'] = true}
local step = redis.call('SCAN', ARGV[2], 'MATCH', prefix .. '*',
                        'COUNT', ARGV[3])
local problems = {}
local function report(kind, what, detail)
  problems[#problems + 1] = kind
  problems[#problems + 1] = what
  problems[#problems + 1] = detail
end
-- Glob metacharacters cannot occur in a prefix: instance names are
-- [A-Za-z0-9_-], and "{", "}" and ":" are literal in a MATCH pattern.
for _, key in ipairs(step[2]) do
  if not permanent[key] and redis.call('PTTL', key) == -1 then
    report('no_ttl', key, redis.call('TYPE', key)['ok'])
  end
  local id = string.match(key, '^' .. prefix:gsub('%p', '%%%0') ..
                                'session:(.+)$')
  if id and redis.call('EXISTS', key) == 1 and
     not redis.call('ZSCORE', slots, id) then
    report('session_without_slot', key, 'no entry in ' .. slots)
  end
end
return {15, step[1], #step[2], problems}
