--[[
description: "a runtime error in the request hook is fail-open; the response hook still runs"
requests:
  - {}
  - {method: POST, body: "b"}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  h:headers():add("x-before", "1")
  local t = nil
  t.field = 1
  h:headers():add("x-after", "1")
end
function envoy_on_response(h)
  h:headers():add("x-resp", "ran")
end
