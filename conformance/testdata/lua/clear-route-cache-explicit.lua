--[[
description: "clearRouteCache() on both paths"
requests:
  - {path: /direct-not}
  - {path: /y}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local hs = h:headers()
  if hs:get(":path") == "/y" then hs:replace(":path", "/direct") end
  h:clearRouteCache()
  h:headers():add("x-cleared", "1")
end
function envoy_on_response(h)
  h:clearRouteCache()
  h:headers():add("x-resp-cleared", "1")
end
