--[[
  Several reads as one snapshot, each a read-only command on one key. A script rather than a MULTI:
  on a client BullMQ has defined its scripts on, ioredis copies them onto every transaction object
  (~14 KB each), and a batched watch makes one of these reads at every step.

  KEYS     one key per read, in order
  ARGV     per read: the command (HGET, GET or EXISTS), how many arguments follow, the arguments

  Returns one reply per read, in order (a missing value as nil).
]]
local READ_ONLY = { HGET = true, GET = true, EXISTS = true }
local replies = {}
local at = 1
for index = 1, #KEYS do
  local command = ARGV[at]
  if not READ_ONLY[command] then
    return redis.error_reply('read-together: ' .. tostring(command) .. ' is not a read this script makes')
  end
  local count = tonumber(ARGV[at + 1])
  local args = {}
  for offset = 1, count do
    args[offset] = ARGV[at + 1 + offset]
  end
  at = at + 2 + count
  replies[index] = redis.call(command, KEYS[index], unpack(args))
end
return replies
