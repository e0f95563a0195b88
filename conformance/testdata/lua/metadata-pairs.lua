--[[
description: "pairs(metadata())"
differences:
  - {id: LUA-D3, aspects: ["upstream.header:x-md-keys", "header:x-resp-md-keys"]}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
local function keys(m)
  local out = {}
  for k, v in pairs(m) do out[#out + 1] = k end
  table.sort(out)
  return table.concat(out, ",")
end
function envoy_on_request(h)
  h:headers():add("x-md-keys", keys(h:metadata()))
end
function envoy_on_response(h)
  h:headers():add("x-resp-md-keys", keys(h:metadata()))
end
