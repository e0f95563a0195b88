--[[
description: "bad arguments to header methods"
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
local function try(f, ...)
  local ok, e = pcall(f, ...)
  return tostring(ok) .. ":" .. s(e and msg(e))
end
function envoy_on_request(h)
  local hs = h:headers()
  local r = {}
  r[#r + 1] = try(hs.add, hs, "x-k")
  r[#r + 1] = try(hs.get, hs)
  r[#r + 1] = try(hs.replace, hs, nil, "v")
  r[#r + 1] = try(hs.getAtIndex, hs, "x-k")
  r[#r + 1] = try(hs.remove, hs, {})
  hs:add("x-num-arg", 42)
  hs:add(7, "seven")
  hs:add("x-results", table.concat(r, "|"))
end
function envoy_on_response(h)
  local hs = h:headers()
  hs:add("x-resp-bad", try(hs.getNumValues, hs))
end
