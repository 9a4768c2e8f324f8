--[[
  Extends a lease only if this holder still owns it (a holder that stalled past its TTL must not
  extend the lease another process has taken since).

  KEYS[1] lease key
  ARGV[1] holder token
  ARGV[2] TTL in ms

  Returns 1 when extended, 0 when the lease is someone else's or gone.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
