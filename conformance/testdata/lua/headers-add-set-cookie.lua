--[[
description: "add() gives separate entries: set-cookie and a client header, request and response"
requests:
  - {headers: ["x-multi: client", "x-up-header: set-cookie: up=0"]}
]]
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local hs = h:headers()
  hs:add("set-cookie", "a=1")
  hs:add("set-cookie", "b=2; Path=/")
  hs:add("x-multi", "lua")
  hs:add("x-req-view", hs:getNumValues("x-multi") .. "|" .. s(hs:get("x-multi")) .. "|" ..
    s(hs:getAtIndex("x-multi", 1)) .. "|" .. hs:getNumValues("set-cookie"))
end
function envoy_on_response(h)
  local hs = h:headers()
  hs:add("set-cookie", "c=3")
  hs:add("set-cookie", "d=4; HttpOnly")
  local n = 0
  for k, v in pairs(hs) do
    if k == "set-cookie" then n = n + 1 end
  end
  hs:add("x-resp-view", hs:getNumValues("set-cookie") .. "|" .. s(hs:get("set-cookie")) .. "|" .. n)
end
