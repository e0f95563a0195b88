--[[
description: "metadata() booleans, lists and structs"
differences:
  - {id: LUA-D3, aspects: ["upstream.header:x-md-types", "header:x-resp-md-types"]}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
local function dump(v)
  if type(v) == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
    return "{" .. table.concat(keys, ",") .. "}"
  end
  return type(v) .. ":" .. s(v)
end
function envoy_on_request(h)
  local m = h:metadata()
  h:headers():add("x-md-types", dump(m:get("flag")) .. ";" .. dump(m:get("list")) .. ";" .. dump(m:get("nested")))
end
function envoy_on_response(h)
  local m = h:metadata()
  h:headers():add("x-resp-md-types", dump(m:get("nested")))
end
