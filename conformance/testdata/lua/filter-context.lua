--[[
description: "filterContext() from LuaPerRoute"
differences:
  - {id: LUA-D6, aspects: ["upstream.header:x-ctx", "header:x-resp-ctx"]}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local c = h:filterContext()
  h:headers():add("x-ctx", s(c:get("ctx_key")) .. "," .. s(c:get("ctx_num")))
  h:headers():add("x-ctx-absent", s(c:get("absent")))
end
function envoy_on_response(h)
  h:headers():add("x-resp-ctx", s(h:filterContext():get("ctx_key")))
end
