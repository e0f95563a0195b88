--[[
description: "metadata() reads the route's filter metadata (strings and numbers)"
listeners: [gateway, sidecar]
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local m = h:metadata()
  h:headers():add("x-md", s(m:get("greeting")) .. "," .. s(m:get("count")) .. "," .. s(m:get("ratio")) .. "," .. s(m:get("absent")))
end
function envoy_on_response(h)
  local m = h:metadata()
  h:headers():add("x-resp-md", s(m:get("kind")) .. "," .. s(m:get("greeting")))
end
