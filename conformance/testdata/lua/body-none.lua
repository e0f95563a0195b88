--[[
description: "body() without a body returns nil; body(true) wraps an empty buffer"
requests:
  - {}
  - {path: /wrap}
  - {method: POST, path: /wrap, body: "has body"}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local hs = h:headers()
  if hs:get(":path") == "/wrap" then
    local b = h:body(true)
    hs:add("x-wrapped-len", tostring(b:length()))
  else
    local b = h:body()
    hs:add("x-body-nil", tostring(b == nil))
  end
end
function envoy_on_response(h)
  h:headers():add("x-resp-body-nil", tostring(h:body() == nil))
end
