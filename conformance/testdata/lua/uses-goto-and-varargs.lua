--[[
description: "varargs, select, closures and goto (LuaJIT supports goto)"
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
local function va(...) return select("#", ...), ... end
local function counter() local c = 0 return function() c = c + 1 return c end end
function envoy_on_request(h)
  local n, a, b = va("x", nil, "z")
  local c = counter(); c(); c()
  local i = 0
  ::top::
  i = i + 1
  if i < 3 then goto top end
  h:headers():add("x-va", table.concat({n, a, tostring(b), c(), i}, ","))
end
