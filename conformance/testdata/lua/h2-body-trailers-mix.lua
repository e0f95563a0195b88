--[[
description: "body, trailers and headers together over both protocols"
requests:
  - {method: POST, body: "first", trailers: ["x-t: 1"], chunks: 2, headers: ["x-up-trailer: x-rt: r", "x-up-body: resp"]}
listeners: [gateway, sidecar]
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local b = h:body()
  h:headers():add("x-req-len", tostring(b:length()))
  local t = h:trailers()
  if t then t:add("x-t-lua", "1") end
end
function envoy_on_response(h)
  local b = h:body()
  h:headers():add("x-resp-len", tostring(b:length()))
  local t = h:trailers()
  if t then t:add("x-rt-lua", s(t:get("x-rt"))) end
end
