--[[
description: "replace() and add() with an empty value"
requests:
  - {headers: ["x-was: set"]}
differences:
  - {id: LUA-D21, aspects: ["header:x-resp-empty", "header:x-resp-view", "upstream.header:x-new-empty", "upstream.header:x-req-view", "upstream.header:x-was"]}
]]
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local hs = h:headers()
  hs:replace("x-was", "")
  hs:add("x-new-empty", "")
  hs:add("x-req-view", s(hs:get("x-was")) .. "|" .. s(hs:get("x-new-empty")))
end
function envoy_on_response(h)
  local hs = h:headers()
  hs:replace("x-resp-empty", "")
  hs:add("x-resp-view", s(hs:get("x-resp-empty")))
end
