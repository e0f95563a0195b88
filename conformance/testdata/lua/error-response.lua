--[[
description: "a runtime error in the response hook is fail-open"
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_response(h)
  h:headers():add("x-before", "1")
  error("boom")
end
