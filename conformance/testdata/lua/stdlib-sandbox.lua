--[[
description: "what the sandbox offers (Envoy opens every LuaJIT library)"
differences:
  - {id: LUA-D10, aspects: ["upstream.header:x-libs"]}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local r = {type(io), type(os), type(os and os.time), type(os and os.execute), type(require), type(debug), type(package), type(jit), type(ffi), type(loadstring), type(load), type(dofile), type(string), type(coroutine), type(bit), type(setfenv), type(getfenv)}
  h:headers():add("x-libs", table.concat(r, ","))
  h:headers():add("x-safe", type(pcall) .. "," .. type(select) .. "," .. type(tostring) .. "," .. type(setmetatable) .. "," .. type(rawget) .. "," .. type(next) .. "," .. type(ipairs) .. "," .. type(os.time()) .. "," .. type(os.clock()))
end
