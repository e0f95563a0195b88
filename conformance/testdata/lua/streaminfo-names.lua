--[[
description: "requestedServerName() and routeName()"
requests:
  - {}
  - {headers: ["x-reroute: 1"]}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local si = h:streamInfo()
  h:headers():add("x-sni", "[" .. si:requestedServerName() .. "]")
  h:headers():add("x-route-name", "[" .. si:routeName() .. "]")
end
function envoy_on_response(h)
  local si = h:streamInfo()
  h:headers():add("x-resp-sni", "[" .. si:requestedServerName() .. "]")
  h:headers():add("x-resp-route-name", "[" .. si:routeName() .. "]")
end
