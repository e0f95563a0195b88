--[[
description: "coroutines created by the script itself"
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local co = coroutine.create(function(a, b)
    local c = coroutine.yield(a + b)
    return c * 2
  end)
  local ok1, v1 = coroutine.resume(co, 1, 2)
  local ok2, v2 = coroutine.resume(co, 10)
  local ok3, v3 = coroutine.resume(co)
  local gen = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)
  h:headers():add("x-co", table.concat({tostring(ok1), v1, tostring(ok2), v2, tostring(ok3), s(v3), coroutine.status(co), gen(), gen(), gen()}, ","))
end
