-- After a 429: nobody using this profile may send a request before now + ms.
-- An existing longer pause is kept (the later end wins).
--
-- KEYS[1]  state hash (see acquire-request.lua)
-- ARGV[1]  now (integer ms, the caller's clock)
-- ARGV[2]  pause length in ms (> 0)
-- ARGV[3]  reason, for usage() and logs
--
-- Returns the pause end in ms now in force.

local now = tonumber(ARGV[1])
local pausedUntil = now + tonumber(ARGV[2])
local STATE_TTL = 3600000 + 60000

local current = tonumber(redis.call('HGET', KEYS[1], 'pausedUntil')) or 0
if current >= pausedUntil then
  return current
end

redis.call('HSET', KEYS[1], 'pausedUntil', pausedUntil, 'pauseReason', ARGV[3])
local ttl = math.max(STATE_TTL, pausedUntil - now + 60000)
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return pausedUntil
