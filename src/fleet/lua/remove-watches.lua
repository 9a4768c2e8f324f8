--[[
  Forgets watches: their due times, registrations and direct-GET marks, in one step.

  KEYS[1] due sorted set   KEYS[2] registrations hash   KEYS[3] direct hash
  ARGV    watch ids (one at least)

  Returns nothing.
]]
-- unpack() is limited by Lua's stack: a long list goes in slices.
local SLICE = 1000
for first = 1, #ARGV, SLICE do
  local last = math.min(first + SLICE - 1, #ARGV)
  redis.call('ZREM', KEYS[1], unpack(ARGV, first, last))
  redis.call('HDEL', KEYS[2], unpack(ARGV, first, last))
  redis.call('HDEL', KEYS[3], unpack(ARGV, first, last))
end
