--[[
description: "timestamp() and timestampString() resolutions and errors"
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
local function try(f, ...)
  local ok, e = pcall(f, ...)
  return tostring(ok) .. ":" .. (ok and type(e) or msg(e))
end
function envoy_on_request(h)
  local ms = h:timestamp()
  local ms2 = h:timestamp(EnvoyTimestampResolution.MILLISECOND)
  local str = h:timestampString()
  local us = h:timestampString(EnvoyTimestampResolution.MICROSECOND)
  local r = {type(ms), tostring(ms > 1.6e12 and ms < 1e13), tostring(math.abs(ms2 - ms) < 60000), type(str), #str, #us,
    tostring(math.abs(tonumber(str) - ms) < 60000), tostring(EnvoyTimestampResolution.MILLISECOND ~= nil)}
  h:headers():add("x-ts", table.concat(r, ","))
  h:headers():add("x-ts-err", try(h.timestamp, h, EnvoyTimestampResolution.MICROSECOND) .. "|" .. try(h.timestampString, h, 99))
end
function envoy_on_response(h)
  h:headers():add("x-resp-ts", type(h:timestamp()) .. "," .. #h:timestampString(EnvoyTimestampResolution.MILLISECOND))
end
