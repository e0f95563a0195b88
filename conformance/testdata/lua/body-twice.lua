--[[
description: "body() twice returns the same buffered body"
requests:
  - {method: POST, body: "twice"}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local a = h:body()
  local b = h:body()
  h:headers():add("x-lens", a:length() .. "," .. b:length() .. "," .. b:getBytes(0, b:length()))
end
function envoy_on_response(h)
  local a = h:body()
  local b = h:body()
  h:headers():add("x-resp-lens", a:length() .. "," .. b:length())
end
