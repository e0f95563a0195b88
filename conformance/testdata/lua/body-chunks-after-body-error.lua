--[[
description: "bodyChunks() after body() is an error, message observable in a header"
requests:
  - {method: POST, body: "abc"}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local b = h:body()
  local ok, e = pcall(h.bodyChunks, h)
  h:headers():add("x-chunks-after-body", tostring(ok) .. ":" .. s(e and not ok and msg(e)))
end
function envoy_on_response(h)
  local b = h:body()
  local ok, e = pcall(h.bodyChunks, h)
  h:headers():add("x-resp-chunks-after-body", tostring(ok) .. ":" .. s(e and not ok and msg(e)))
end
