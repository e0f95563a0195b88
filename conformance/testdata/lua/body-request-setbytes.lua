--[[
description: "setBytes on the buffered request body (content-length follows)"
requests:
  - {method: POST, body: "make me loud"}
  - {method: POST, body: "chunked and loud", chunks: 3}
listeners: [gateway, sidecar]
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local b = h:body()
  local n = b:setBytes(string.upper(b:getBytes(0, b:length())) .. "!")
  h:headers():add("x-new-len", tostring(n))
end
