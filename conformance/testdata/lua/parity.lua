--[[
description: "the TrafficExtension announcement script (x-parity)"
requests:
  - {headers: ["x-number: 3"]}
  - {headers: ["x-number: 10"]}
  - {headers: ["x-number: abc"]}
  - {}
listeners: [gateway, sidecar]
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(request_handle)
  local n = tonumber(request_handle:headers():get("x-number"))
  if n ~= nil then
    local parity = (n % 2 == 0) and "even" or "odd"
    request_handle:streamInfo():dynamicMetadata():set("envoy.lua", "parity", parity)
  end
end
function envoy_on_response(response_handle)
  local md = response_handle:streamInfo():dynamicMetadata():get("envoy.lua")
  if md ~= nil and md["parity"] ~= nil then
    response_handle:headers():add("x-parity", md["parity"])
  end
end
