-- Record what a DigitalOcean response said about the token's hourly budget.
--
-- KEYS[1]  state hash (see acquire-request.lua)
-- ARGV[1]  now (integer ms, the caller's clock)
-- ARGV[2]  ratelimit-remaining
-- ARGV[3]  ratelimit-reset as integer ms
-- ARGV[4]  ratelimit-limit (the hourly limit; the caller falls back to its configured limit)
--
-- The newest observation replaces the previous one and restarts the count of requests granted since
-- (`spent`). Observations whose reset time has already passed are ignored, and so is one older than
-- the stored observation (a process whose clock lags the others). Returns 1 if stored, 0 if ignored.

local now = tonumber(ARGV[1])
local resetAt = tonumber(ARGV[3])
local STATE_TTL = 3600000 + 60000

if resetAt <= now then
  return 0
end
local observedAt = tonumber(redis.call('HGET', KEYS[1], 'observedAt'))
if observedAt ~= nil and observedAt > now then
  return 0
end

redis.call('HSET', KEYS[1], 'remaining', ARGV[2], 'resetAt', resetAt, 'limit', ARGV[4], 'observedAt', now, 'spent', 0)
local ttl = math.max(STATE_TTL, resetAt - now + 60000)
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
