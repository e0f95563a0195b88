--[[
description: "bodyChunks() on the request, transforming each chunk"
requests:
  - {method: POST, body: "streamed request body in pieces", chunks: 4}
  - {method: POST, body: "single"}
  - {}
listeners: [gateway, sidecar]
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local total = 0
  for chunk in h:bodyChunks() do
    total = total + chunk:length()
    h:logDebug("chunk " .. chunk:getBytes(0, chunk:length()))
  end
  h:logInfo("total " .. total)
end
