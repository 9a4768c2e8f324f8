--[[
  What a batched watch's step reads, as one snapshot: the action's latest observation, the watch's
  registration, until when it makes its own GETs, and whether a sweeper is healthy. A script, not a
  MULTI: on a client BullMQ has defined its scripts on, each ioredis transaction object costs ~14 KB.

  KEYS[1] observations hash   KEYS[2] registrations hash   KEYS[3] direct hash   KEYS[4] healthy key
  ARGV[1] action id           ARGV[2] watch id

  Returns { observation JSON or nil, registration JSON or nil, direct-until or nil, 0|1 }.
]]
return {
  redis.call('HGET', KEYS[1], ARGV[1]),
  redis.call('HGET', KEYS[2], ARGV[2]),
  redis.call('HGET', KEYS[3], ARGV[2]),
  redis.call('EXISTS', KEYS[4]),
}
