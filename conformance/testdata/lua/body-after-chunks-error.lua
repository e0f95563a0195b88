--[[
description: "body() after bodyChunks() is an error (fail-open, counted)"
requests:
  - {method: POST, body: "abc", chunks: 2}
  - {headers: ["x-up-body: resp", "x-up-chunks: 2"]}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  for chunk in h:bodyChunks() do end
  h:body()
end
function envoy_on_response(h)
  for chunk in h:bodyChunks() do end
  local b = h:body()
end
