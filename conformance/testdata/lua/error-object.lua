--[[
description: "error() with a table value and a number"
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local ok, e = pcall(error, {code = 7})
  h:headers():add("x-table-err", type(e) .. ":" .. s(type(e) == "table" and e.code))
  local ok2, e2 = pcall(function() error(42) end)
  h:headers():add("x-num-err", type(e2) .. ":" .. msg(e2))
  local ok3, e3 = pcall(error, "lvl0", 0)
  h:headers():add("x-lvl0", s(e3))
  error({code = 1})
end
