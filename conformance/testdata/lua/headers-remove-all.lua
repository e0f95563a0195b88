--[[
description: "remove() of every non-pseudo request header"
requests:
  - {headers: ["x-a: 1", "x-b: 2", "user-agent: conf"]}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local keys = {}
  for k, v in pairs(h:headers()) do
    if k:sub(1, 1) ~= ":" then keys[#keys + 1] = k end
  end
  for _, k in ipairs(keys) do h:headers():remove(k) end
  h:headers():add("x-removed", tostring(#keys))
end
