--[[
description: "setBytes on the buffered response body"
requests:
  - {headers: ["x-up-body: lower case body"]}
  - {}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_response(h)
  local b = h:body()
  b:setBytes("replaced:" .. b:length())
end
