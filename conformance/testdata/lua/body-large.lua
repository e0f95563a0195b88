--[[
description: "a 256 KiB request body buffered and measured"
requests:
  - {method: POST, body: "LARGE", chunks: 8}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local b = h:body()
  b:setBytes(string.rep("z", 262144))
  h:headers():add("x-len", tostring(b:length()))
end
function envoy_on_response(h)
  local b = h:body()
  h:headers():add("x-resp-len", tostring(b:length()))
  b:setBytes("short")
end
