--[[
description: "filterState():get of absent objects"
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local fs = h:streamInfo():filterState()
  h:headers():add("x-fs", s(fs:get("envoy.absent")) .. "," .. s(fs:get("envoy.absent", "field")))
end
function envoy_on_response(h)
  h:headers():add("x-resp-fs", s(h:streamInfo():filterState():get("envoy.absent")))
end
