--[[
  Records the latest observation of each action, once per action however many watches want it,
  and says which actions this call saw end for the first time (so that each finished action feeds
  the duration history exactly once, whichever worker saw it).

  KEYS[1] observations hash (action id -> JSON that starts {"t":<0|1>,"o":<observed at ms>,...)
  ARGV    groups of three: action id, observed at (ms), JSON

  A recorded end is final: nothing replaces it. Otherwise an older observation never replaces a
  newer one (a slow GET finishing after a sweep), except that an end replaces anything.

  Returns the ids of actions newly recorded as ended.
]]
local ended = {}
for i = 1, #ARGV, 3 do
  local id = ARGV[i]
  local observedAt = tonumber(ARGV[i + 1])
  local json = ARGV[i + 2]
  local terminal = string.sub(json, 1, 6) == '{"t":1'
  local old = redis.call('HGET', KEYS[1], id)
  local write = true
  local wasTerminal = false
  if old then
    local oldTerminal, oldAt = string.match(old, '^{"t":(%d),"o":(%d+)')
    wasTerminal = oldTerminal == '1'
    if wasTerminal then
      write = false
    elseif not terminal and tonumber(oldAt or '0') > observedAt then
      write = false
    end
  end
  if write then
    redis.call('HSET', KEYS[1], id, json)
    if terminal and not wasTerminal then
      ended[#ended + 1] = id
    end
  end
end
return ended
