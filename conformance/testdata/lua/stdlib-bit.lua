--[[
description: "the LuaJIT bit library"
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local r = {bit.band(0xff, 0x0f), bit.bor(1, 2), bit.bxor(5, 3), bit.lshift(1, 4), bit.rshift(256, 4), bit.arshift(-256, 4), bit.bnot(0), bit.tohex(255), bit.tobit(2^32 + 5), bit.rol(1, 1), bit.ror(1, 1), bit.bswap(0x12345678)}
  for i = 1, #r do r[i] = tostring(r[i]) end
  h:headers():add("x-bit", table.concat(r, ","))
end
