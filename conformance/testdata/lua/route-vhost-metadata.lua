--[[
description: "route():metadata() and virtualHost():metadata()"
differences:
  - {id: LUA-D5, aspects: ["upstream.header:x-vhost-kind", "header:x-resp-vhost-kind"]}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  h:headers():add("x-route-kind", s(h:route():metadata():get("kind")))
  h:headers():add("x-vhost-kind", s(h:virtualHost():metadata():get("kind")))
end
function envoy_on_response(h)
  h:headers():add("x-resp-route-kind", s(h:route():metadata():get("kind")))
  h:headers():add("x-resp-vhost-kind", s(h:virtualHost():metadata():get("kind")))
end
