--[[
description: "globals persist per worker across requests"
requests:
  - {}
  - {}
  - {}
protocols: [http1]
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
count = 0
local upvalue = 0
function envoy_on_request(h)
  count = count + 1
  upvalue = upvalue + 10
  h:headers():add("x-count", tostring(count) .. "," .. tostring(upvalue))
end
function envoy_on_response(h)
  h:headers():add("x-resp-count", tostring(count))
end
