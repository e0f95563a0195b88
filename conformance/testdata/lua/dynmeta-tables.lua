--[[
description: "dynamicMetadata() set of booleans and tables (merged into the namespace)"
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local dm = h:streamInfo():dynamicMetadata()
  dm:set("conf.t", "flag", true)
  dm:set("conf.t", "tbl", {a = "1", b = 2})
  dm:set("conf.t", "list", {"x", "y"})
end
function envoy_on_response(h)
  local t = h:streamInfo():dynamicMetadata():get("conf.t")
  local tbl = t and t.tbl
  h:headers():add("x-resp-dm", s(t and t.flag) .. "," .. s(tbl and tbl.a) .. "," .. s(tbl and tbl.b) .. "," .. s(t and t.list and t.list[2]))
end
