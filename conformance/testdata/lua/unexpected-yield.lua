--[[
description: "coroutine.yield() in a hook is \"script performed an unexpected yield\""
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  h:headers():add("x-before", "1")
  coroutine.yield()
  h:headers():add("x-after", "1")
end
function envoy_on_response(h)
  h:headers():add("x-resp", "1")
end
