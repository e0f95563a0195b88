--[[
description: "trailers() after bodyChunks() on the request"
requests:
  - {method: POST, body: "chunky body", chunks: 2, trailers: ["x-t: v"]}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local n = 0
  for c in h:bodyChunks() do n = n + c:length() end
  local t = h:trailers()
  if t then t:add("x-len-in-trailer", tostring(n)) end
end
