--[[
description: "respond() on the response path, uncaught: fail-open, counted"
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_response(h)
  h:headers():add("x-before", "1")
  h:respond({[":status"] = "403"}, "no")
  h:headers():add("x-after", "1")
end
