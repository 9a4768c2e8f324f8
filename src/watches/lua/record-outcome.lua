--[[
  Records a watch's outcome exactly once and, in the same atomic step, appends it to the events
  stream. A second call (a retried job, a cancel racing a poll) changes nothing and returns the
  outcome that won.

  KEYS[1] outcome key
  KEYS[2] events stream
  ARGV[1] outcome JSON
  ARGV[2] event type (action.<outcome>)
  ARGV[3] watch id
  ARGV[4] stream max length (approximate)
  ARGV[5] outcome TTL in ms

  Returns { created (0|1), outcome JSON, stream id or "" }
]]
local existing = redis.call('GET', KEYS[1])
if existing then
  return { 0, existing, '' }
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[5])
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'type', ARGV[2], 'watch', ARGV[3], 'data', ARGV[1])
return { 1, ARGV[1], id }
