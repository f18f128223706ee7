--[[
  Seeds an instance's pool settings from the configuration when Redis has
  none (first start, or a Redis that lost its data). Settings already in
  Redis win: operators change them live with sessionctl or redis-cli.

  KEYS[1] pool      hash of pool settings ("limit"); no TTL
  KEYS[2] reserved  set of reserved subjects; no TTL

  ARGV[1]    license limit from the configuration
  ARGV[2..n] reserved subjects from the configuration

  Returns {9, seeded}: seeded is 1 when the settings were written, else 0.
]]

if redis.call('HSETNX', KEYS[1], 'limit', ARGV[1]) == 0 then return {9, 0} end
redis.call('DEL', KEYS[2])
if #ARGV > 1 then redis.call('SADD', KEYS[2], unpack(ARGV, 2)) end
return {9, 1}
