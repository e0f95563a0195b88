--[[
description: "rewriting pseudo-headers (:path, :method, :authority) and :status"
requests:
  - {path: "/orig?q=1"}
  - {method: POST, path: /p, body: "x"}
listeners: [gateway, sidecar]
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local hs = h:headers()
  hs:replace(":path", "/rewritten" .. hs:get(":path"))
  hs:replace(":authority", "rewritten.example")
  if hs:get(":method") == "GET" then hs:replace(":method", "PUT") end
end
function envoy_on_response(h)
  h:headers():replace(":status", "202")
end
