--[[
description: "respond() once the headers were continued (inside bodyChunks) is an error"
requests:
  - {method: POST, body: "chunked body", chunks: 2}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  for c in h:bodyChunks() do
    local ok, e = pcall(h.respond, h, {[":status"] = "403"}, "late")
    c:setBytes(tostring(ok) .. ":" .. s(e and msg(e)) .. ";")
  end
end
