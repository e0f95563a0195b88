--[[
description: "body() on the request, length and getBytes"
requests:
  - {method: POST, body: "hello buffered world"}
  - {method: POST, body: "hello buffered world", chunks: 4}
  - {method: PUT, body: "x"}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local b = h:body()
  local hs = h:headers()
  hs:add("x-len", tostring(b:length()))
  hs:add("x-first5", b:getBytes(0, 5))
  hs:add("x-all", b:getBytes(0, b:length()))
  hs:add("x-empty", "[" .. b:getBytes(b:length(), 0) .. "]")
end
