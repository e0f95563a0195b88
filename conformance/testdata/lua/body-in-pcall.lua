--[[
description: "body() inside pcall (yields across pcall, as LuaJIT)"
requests:
  - {method: POST, body: "abc"}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local ok, b = pcall(h.body, h)
  h:headers():add("x-pcall-body", tostring(ok) .. ":" .. (ok and tostring(b:length()) or msg(b)))
end
