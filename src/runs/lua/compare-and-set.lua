--[[
  Replaces a value only if it is still the one the caller read, so two processes deciding on the
  same idempotency key never both win.

  KEYS[1] the key
  ARGV[1] the value the caller read, or "" when it read nothing
  ARGV[2] the new value, or "" to delete the key
  ARGV[3] TTL of the new value in ms

  Returns 1 when replaced, 0 when the key held something else.
]]
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '' then
  if current then return 0 end
elseif current ~= ARGV[1] then
  return 0
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
