-- Atomically decide whether one DigitalOcean API request may be sent now, and count it if so.
--
-- KEYS[1]  minute window: sorted set, member = request id, score = time (ms) the request was granted
-- KEYS[2]  hour window: same members and scores
-- KEYS[3]  state hash: seq, last, pausedUntil, pauseReason, remaining, resetAt, limit, observedAt, spent
-- ARGV[1]  now (integer ms, the caller's clock; Redis TIME is not used)
-- ARGV[2]  effective per-minute limit (headroom already applied, >= 1)
-- ARGV[3]  effective per-hour limit (headroom already applied, >= 1)
-- ARGV[4]  headroom fraction (0..0.9), the share of the observed hourly limit left to other users
-- ARGV[5]  pace below this fraction of the observed hourly limit (e.g. 0.2)
--
-- Returns {1} when granted, or {0, waitMs, reason} with reason 'paused' | 'minute' | 'hour' | 'remaining'.
-- When several constraints deny, the longest wait wins: no request can be sent before all of them allow it.

local now = tonumber(ARGV[1])
local minuteLimit = tonumber(ARGV[2])
local hourLimit = tonumber(ARGV[3])
local headroom = tonumber(ARGV[4])
local paceBelow = tonumber(ARGV[5])

local MINUTE = 60000
local HOUR = 3600000
-- The state hash outlives the hour window so that `seq` (the source of unique members) never restarts
-- while a member it issued is still in a window.
local STATE_TTL = HOUR + MINUTE

-- A request made at t counts while now < t + span; at t + span it has left the window.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - MINUTE)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - HOUR)

local waitMs = 0
local reason = false
local function deny(ms, why)
  if ms > waitMs then
    waitMs = ms
    reason = why
  end
end

-- With `count` requests in the window and room for `limit`, the next one may go when the request at
-- index count - limit (oldest first) leaves; with count == limit that is the oldest one.
local function windowWait(key, limit, span)
  local count = redis.call('ZCARD', key)
  if count < limit then
    return 0
  end
  local entry = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
  return math.max(1, tonumber(entry[2]) + span - now)
end

local state = redis.call('HMGET', KEYS[3], 'pausedUntil', 'remaining', 'resetAt', 'limit', 'spent', 'last')
local pausedUntil = tonumber(state[1]) or 0
local remaining = tonumber(state[2])
local resetAt = tonumber(state[3])

-- 1. A 429 paused everyone using this profile.
if pausedUntil > now then
  deny(pausedUntil - now, 'paused')
end

-- 2. Our own sliding windows.
deny(windowWait(KEYS[1], minuteLimit, MINUTE), 'minute')
deny(windowWait(KEYS[2], hourLimit, HOUR), 'hour')

-- 3. The last `ratelimit-remaining` DigitalOcean reported (it counts every client of the token).
--    Ignored once its reset time has passed: by then a fresher response will have told us more.
local observed = remaining ~= nil and resetAt ~= nil and resetAt > now
if observed then
  local limit = tonumber(state[4]) or 0
  local spent = tonumber(state[5]) or 0
  local left = remaining - spent -- requests granted since the observation count against it
  local available = left - math.floor(limit * headroom + 1e-9)
  if available <= 0 then
    deny(resetAt - now, 'remaining')
  elseif left < limit * paceBelow then
    -- Running low: spread what is left evenly over the time until reset, i.e. the next grant may go
    -- (time until reset, measured from the last grant) / (requests available) after the last grant.
    local last = tonumber(state[6])
    if last ~= nil then
      local nextAt = last + math.ceil((resetAt - last) / available)
      if nextAt > now then
        deny(nextAt - now, 'remaining')
      end
    end
  end
end

if reason then
  return { 0, math.ceil(waitMs), reason }
end

-- Granted: count the request in both windows under one short unique member.
local seq = redis.call('HINCRBY', KEYS[3], 'seq', 1)
local member = tostring(seq)
if redis.call('ZSCORE', KEYS[2], member) then
  -- Only possible if the state hash was lost while the window survived (manual deletion, eviction).
  member = ARGV[1] .. ':' .. member
end
redis.call('ZADD', KEYS[1], now, member)
redis.call('ZADD', KEYS[2], now, member)
redis.call('PEXPIRE', KEYS[1], MINUTE)
redis.call('PEXPIRE', KEYS[2], HOUR)
redis.call('HSET', KEYS[3], 'last', now)
if observed then
  redis.call('HINCRBY', KEYS[3], 'spent', 1)
end
if redis.call('PTTL', KEYS[3]) < STATE_TTL then
  redis.call('PEXPIRE', KEYS[3], STATE_TTL)
end
return { 1 }
