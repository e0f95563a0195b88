--[[
description: "dynamicMetadata() set and get of strings and numbers, across hooks"
listeners: [gateway, sidecar]
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local dm = h:streamInfo():dynamicMetadata()
  dm:set("conf.ns", "str", "value")
  dm:set("conf.ns", "num", 42)
  dm:set("conf.other", "k", "v")
  local t = dm:get("conf.ns")
  h:headers():add("x-dm", s(t and t.str) .. "," .. s(t and t.num))
  h:headers():add("x-dm-absent", s(dm:get("conf.absent")))
end
function envoy_on_response(h)
  local dm = h:streamInfo():dynamicMetadata()
  local t = dm:get("conf.ns")
  h:headers():add("x-resp-dm", s(t and t.str) .. "," .. s(t and t.num) .. "," .. s(dm:get("conf.other") and dm:get("conf.other").k))
  dm:set("conf.ns", "str", "overwritten")
  h:headers():add("x-resp-dm2", s(dm:get("conf.ns").str))
end
