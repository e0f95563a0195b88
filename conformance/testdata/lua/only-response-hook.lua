--[[
description: "a script with only envoy_on_response"
requests:
  - {method: POST, body: "req body", trailers: ["x-t: 1"]}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_response(h)
  h:headers():add("x-only-resp", "1")
end
