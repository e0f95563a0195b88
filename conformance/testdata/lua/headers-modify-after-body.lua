--[[
description: "headers stay modifiable after body() (iteration was held)"
requests:
  - {method: POST, body: "abcdef"}
  - {method: POST, body: "abcdef", chunks: 3}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local hs = h:headers()
  local b = h:body()
  hs:add("x-after-body", tostring(b:length()))
end
function envoy_on_response(h)
  local b = h:body()
  h:headers():add("x-resp-after-body", tostring(b:length()))
end
