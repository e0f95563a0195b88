--[[
description: "setUpstreamOverrideHost argument checks (not an upstream change here)"
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
local function try(...)
  local ok, e = pcall(...)
  return tostring(ok) .. ":" .. s(e and msg(e))
end
function envoy_on_request(h)
  h:headers():add("x-override", try(h.setUpstreamOverrideHost, h, "not-an-ip") .. "|" .. try(h.setUpstreamOverrideHost, h, "10.0.0.1:80", "yes"))
end
function envoy_on_response(h)
  h:headers():add("x-resp-override", try(h.setUpstreamOverrideHost, h, "bad"))
end
