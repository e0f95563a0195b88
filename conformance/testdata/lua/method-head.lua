--[[
description: "a HEAD request and the response hook"
requests:
  - {method: HEAD}
  - {method: DELETE, path: /item/1}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  h:headers():add("x-method-seen", h:headers():get(":method"))
end
function envoy_on_response(h)
  h:headers():add("x-resp-method-body", tostring(h:body() == nil))
end
