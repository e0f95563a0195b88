--[[
description: "the response hook sees the upstream's status and headers"
requests:
  - {headers: ["x-up-status: 503", "x-up-body: unavailable"]}
  - {headers: ["x-up-status: 404", "x-up-header: x-u: 1", "x-up-header: x-u: 2"]}
  - {headers: ["x-up-status: 204"]}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_response(h)
  local hs = h:headers()
  hs:add("x-seen", hs:get(":status") .. ":" .. s(hs:get("x-u")) .. ":" .. hs:getNumValues("x-u"))
  if hs:get(":status") == "503" then hs:replace(":status", "200") end
end
