--[[
description: "number formatting and arithmetic"
differences:
  - {id: LUA-D9, aspects: ["upstream.header:x-num-fmt"]}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local r = {tostring(10 / 2), tostring(7 / 2), tostring(2 ^ 10), tostring(-0.0 + 0), tostring(10 % 3), tostring(-7 % 3), tostring(tonumber("0x10")), tostring(tonumber("  12  ")), tostring(tonumber("1e2")), tostring(tonumber("abc")), tostring(math.floor(-0.5))}
  h:headers():add("x-num", table.concat(r, ","))
  h:headers():add("x-num-fmt", tostring(1e15) .. "," .. tostring(0.1) .. "," .. tostring(1/3) .. "," .. tostring(2^53) .. "," .. tostring(1e100) .. "," .. tostring(1/0) .. "," .. tostring(-1/0) .. "," .. tostring(123456789012))
end
