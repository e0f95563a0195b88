--[[
description: "bodyChunks() on the response"
requests:
  - {headers: ["x-up-body: streamed response body", "x-up-chunks: 3"]}
  - {headers: ["x-up-body: one piece"]}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_response(h)
  h:headers():add("x-before-chunks", "yes")
  for chunk in h:bodyChunks() do
    chunk:setBytes(string.upper(chunk:getBytes(0, chunk:length())))
  end
end
