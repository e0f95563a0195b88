--[[
description: "metadata() keys only under envoy.filters.http.lua (not used when the filter's namespace exists)"
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  h:headers():add("x-fallback", s(h:metadata():get("fallback")))
end
function envoy_on_response(h)
  h:headers():add("x-resp-fallback", s(h:metadata():get("fallback")))
end
