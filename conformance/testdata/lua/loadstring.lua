--[[
description: "loadstring() of a chunk and of a syntax error"
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local f = loadstring("return 1 + 2")
  h:headers():add("x-load", tostring(f and f()))
  local g, e = loadstring("return +")
  h:headers():add("x-load-err", tostring(g) .. ":" .. tostring(e ~= nil))
end
