--[[
description: "a script with only envoy_on_request"
requests:
  - {method: POST, body: "req body", trailers: ["x-t: 1"]}
  - {headers: ["x-up-trailer: x-rt: 1", "x-up-body: b"]}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  h:headers():add("x-only-req", "1")
end
