--[[
description: "counts and logs the request headers (benchmark script)"
requests:
  - {headers: ["x-a: 1", "x-b: 2"]}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local n = 0
  for k, v in pairs(h:headers()) do n = n + 1 end
  h:logInfo("request headers: " .. n)
  h:headers():add("x-header-count", tostring(n))
end
function envoy_on_response(h)
  local n = 0
  for k, v in pairs(h:headers()) do n = n + 1 end
  h:logInfo("response headers: " .. n)
end
