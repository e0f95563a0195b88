--[[
description: "a header change re-routes (the first mutation clears the route cache)"
requests:
  - {path: /x}
listeners: [gateway, sidecar]
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  h:headers():add("x-reroute", "1")
end
