--[[
description: "body() on the response"
requests:
  - {headers: ["x-up-body: response body text"]}
  - {headers: ["x-up-body: chunked response body text", "x-up-chunks: 3"]}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_response(h)
  local b = h:body()
  h:headers():add("x-resp-len", tostring(b:length()))
  h:headers():add("x-resp-head", b:getBytes(0, 8))
end
