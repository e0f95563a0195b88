--[[
description: "argument errors of host methods called with method syntax"
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function try(f)
  local ok, e = pcall(f)
  return tostring(ok) .. ":" .. (e and msg(e) or "nil")
end
function envoy_on_request(h)
  local hs = h:headers()
  local r = {
    try(function() return hs:get() end),
    try(function() return hs:add("k") end),
    try(function() return hs:getAtIndex("k", "x") end),
    try(function() return hs:replace({}, "v") end),
    try(function() return h:base64Escape() end),
    try(function() return h:streamInfo():dynamicMetadata():get() end),
  }
  hs:add("x-method-errors", table.concat(r, "|"))
end
function envoy_on_response(h)
  local hs = h:headers()
  h:headers():add("x-resp-method-errors", try(function() return hs:remove() end) .. "|" .. try(function() return h:logInfo() end))
end
