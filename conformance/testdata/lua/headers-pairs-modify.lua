--[[
description: "modifying the map while a pairs() iteration is alive is an error"
requests:
  - {headers: ["x-one: 1", "x-two: 2"]}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local hs = h:headers()
  local ok, e = pcall(function()
    for k, v in pairs(hs) do hs:add("x-in-loop", k) end
  end)
  hs:add("x-loop-result", tostring(ok) .. ":" .. msg(e))
end
function envoy_on_response(h)
  local hs = h:headers()
  local ok, e = pcall(function()
    for k, v in pairs(hs) do hs:remove(k) end
  end)
  hs:add("x-resp-loop-result", tostring(ok) .. ":" .. msg(e))
end
