--[[
description: "table and math library behaviour"
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local t = {5, 2, 8, 1}
  table.sort(t)
  table.insert(t, 9)
  table.insert(t, 1, 0)
  local removed = table.remove(t, 2)
  local desc = {3, 1, 2}
  table.sort(desc, function(a, b) return a > b end)
  local r = {table.concat(t, ";"), removed, table.concat(desc, ";"), #t, math.floor(3.7), math.ceil(3.2), math.max(1, 5, 3), math.min(4, 2),
    math.abs(-3), math.fmod(7, 3), math.sqrt(16), math.huge > 1e308 and "huge" or "no", tostring(math.pi):sub(1, 6), select("#", 1, 2, 3), (unpack or table.unpack)({1, 2})}
  for i = 1, #r do r[i] = tostring(r[i]) end
  h:headers():add("x-tm", table.concat(r, ","))
end
