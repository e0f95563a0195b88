--[[
description: "the response hook runs on another filter's local reply (direct_response, router 503)"
requests:
  - {path: /direct}
  - {path: /x, headers: ["x-up-status: 503"]}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h) h:headers():add("x-req", "1") end
function envoy_on_response(h)
  local b = h:body()
  h:headers():add("x-resp-status", h:headers():get(":status") .. ":" .. s(b and b:length()))
end
