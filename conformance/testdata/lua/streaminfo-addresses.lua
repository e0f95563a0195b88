--[[
description: "downstream addresses (ports stripped: they differ per listener and connection)"
requests:
  - {}
  - {headers: ["x-forwarded-for: 10.1.2.3"]}
listeners: [gateway, sidecar]
differences:
  - {id: LUA-D13, aspects: ["upstream.header:x-addrs", "header:x-resp-addrs"]}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
local function ip(a) return (tostring(a):gsub(":%d+$", "")) end
function envoy_on_request(h)
  local si = h:streamInfo()
  h:headers():add("x-addrs", ip(si:downstreamLocalAddress()) .. "," .. ip(si:downstreamDirectRemoteAddress()) .. "," .. ip(si:downstreamRemoteAddress()))
  h:headers():add("x-has-port", tostring(si:downstreamLocalAddress():find(":%d+$") ~= nil))
end
function envoy_on_response(h)
  local si = h:streamInfo()
  h:headers():add("x-resp-addrs", ip(si:downstreamLocalAddress()) .. "," .. ip(si:downstreamRemoteAddress()) .. "," .. ip(si:downstreamDirectRemoteAddress()))
end
