--[[
description: "log functions with non-string arguments"
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  h:logInfo(42)
  local ok, e = pcall(h.logInfo, h, {})
  h:headers():add("x-log-table", tostring(ok) .. ":" .. s(e and msg(e)))
  local ok2, e2 = pcall(h.logInfo, h)
  h:headers():add("x-log-none", tostring(ok2) .. ":" .. s(e2 and msg(e2)))
end
