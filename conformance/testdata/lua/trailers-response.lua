--[[
description: "trailers() on the response"
requests:
  - {headers: ["x-up-trailer: x-rt: upstream-value", "x-up-body: body before trailers"]}
  - {headers: ["x-up-body: no trailers"]}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_response(h)
  local b = h:body()
  local t = h:trailers()
  if t ~= nil then
    t:add("x-rt-added", "lua:" .. s(t:get("x-rt")))
    t:replace("x-rt", "rewritten")
  end
  h:headers():add("x-had-trailers", tostring(t ~= nil))
end
