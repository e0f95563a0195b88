--[[
description: "httpCall() argument errors (exact messages)"
differences:
  - {id: LUA-D21, aspects: ["callout.header:x-envoy-expected-rq-timeout-ms"]}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
local function try(...)
  local ok, e = pcall(...)
  return tostring(ok) .. ":" .. s(e and msg(e))
end
function envoy_on_request(h)
  local good = {[":method"] = "GET", [":path"] = "/", [":authority"] = "a"}
  local r = {}
  r[#r + 1] = try(h.httpCall, h, "no-such-cluster", good, nil, 100)
  r[#r + 1] = try(h.httpCall, h, "callout", {[":method"] = "GET"}, nil, 100)
  r[#r + 1] = try(h.httpCall, h, "callout", good, nil, -1)
  r[#r + 1] = try(h.httpCall, h, "callout", good, nil, 100, "maybe")
  r[#r + 1] = try(h.httpCall, h, "callout", good, nil, {bogus = 1})
  r[#r + 1] = try(h.httpCall, h, "callout", good, nil, {timeout_ms = -5})
  r[#r + 1] = try(h.httpCall, h, "callout", good, nil, {asynchronous = "yes"})
  for i, x in ipairs(r) do h:headers():add("x-err-" .. i, x) end
end
