--[[
description: "pairs() over the dynamic metadata and over a namespace"
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local dm = h:streamInfo():dynamicMetadata()
  dm:set("conf.p", "b", "2")
  dm:set("conf.p", "a", "1")
end
function envoy_on_response(h)
  local dm = h:streamInfo():dynamicMetadata()
  local ns = {}
  for name, tbl in pairs(dm) do ns[#ns + 1] = name end
  table.sort(ns)
  h:headers():add("x-resp-ns", table.concat(ns, ","))
  local keys = {}
  for k, v in pairs(dm:get("conf.p")) do keys[#keys + 1] = k .. "=" .. v end
  table.sort(keys)
  h:headers():add("x-resp-keys", table.concat(keys, ","))
end
