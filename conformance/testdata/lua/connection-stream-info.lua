--[[
description: "connectionStreamInfo():dynamicMetadata()"
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local cdm = h:connectionStreamInfo():dynamicMetadata()
  local n = 0
  for k, v in pairs(cdm) do n = n + 1 end
  h:headers():add("x-conn-dm", s(cdm:get("absent")) .. "," .. n)
end
function envoy_on_response(h)
  h:headers():add("x-resp-conn-dm", s(h:connectionStreamInfo():dynamicMetadata():get("absent")))
end
