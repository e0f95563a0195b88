--[[
description: "downstreamSslConnection() and connection():ssl() on a plaintext connection"
listeners: [gateway, sidecar]
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  h:headers():add("x-ssl", tostring(h:streamInfo():downstreamSslConnection()) .. "," .. tostring(h:connection():ssl()))
end
function envoy_on_response(h)
  h:headers():add("x-resp-ssl", tostring(h:streamInfo():downstreamSslConnection() == nil) .. "," .. tostring(h:connection():ssl() == nil))
end
