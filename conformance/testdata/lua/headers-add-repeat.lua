--[[
description: "add() of a key that already exists (a second value)"
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local hs = h:headers()
  hs:add("x-added", "one")
  hs:add("x-added", "two")
  hs:add("x-num-values", tostring(hs:getNumValues("x-added")))
end
function envoy_on_response(h)
  local hs = h:headers()
  hs:add("x-resp-added", "one")
  hs:add("x-resp-added", "two")
  hs:add("x-num-values", tostring(hs:getNumValues("x-resp-added")))
end
