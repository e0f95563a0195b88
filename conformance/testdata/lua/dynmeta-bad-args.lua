--[[
description: "dynamicMetadata():set with bad arguments"
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
local function try(f, ...)
  local ok, e = pcall(f, ...)
  return tostring(ok) .. ":" .. s(e and msg(e))
end
function envoy_on_request(h)
  local dm = h:streamInfo():dynamicMetadata()
  h:headers():add("x-r", try(dm.set, dm, "conf.b") .. "|" .. try(dm.get, dm))
end
function envoy_on_response(h)
  local dm = h:streamInfo():dynamicMetadata()
  h:headers():add("x-resp-r", try(dm.set, dm, "conf.b", "k"))
end
