--[[
  A test's script: counts its calls in a key.

  KEYS[1] counter
  ARGV[1] increment

  Returns the counter after the increment
]]
return redis.call('INCRBY', KEYS[1], ARGV[1])
