--[[
  Registers or refreshes a watch the sweeper looks after, with its due time, in one step.

  KEYS[1] registrations hash   KEYS[2] due sorted set
  ARGV[1] watch id   ARGV[2] registration JSON   ARGV[3] due (ms)
  ARGV[4] '1': the due time replaces the one set; '0': it only applies to a watch not due yet

  Returns nothing.
]]
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[4] == '1' then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
else
  redis.call('ZADD', KEYS[2], 'NX', ARGV[3], ARGV[1])
end
