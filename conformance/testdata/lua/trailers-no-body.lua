--[[
description: "trailers() on a headers-only request and response returns nil"
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local t = h:trailers()
  h:streamInfo():dynamicMetadata():set("conf", "t", tostring(t))
end
function envoy_on_response(h)
  local b = h:body()
  local t = h:trailers()
  h:headers():add("x-resp-t", tostring(t))
  local m = h:streamInfo():dynamicMetadata():get("conf")
  h:headers():add("x-req-t", s(m and m.t))
end
