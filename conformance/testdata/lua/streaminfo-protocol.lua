--[[
description: "streamInfo():protocol() over HTTP/1.1 and HTTP/2"
listeners: [gateway, sidecar]
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  h:headers():add("x-proto", h:streamInfo():protocol())
end
function envoy_on_response(h)
  h:headers():add("x-resp-proto", h:streamInfo():protocol())
end
