--[[
description: "asynchronous httpCall() returns nothing and the script continues"
differences:
  - {id: LUA-D21, aspects: ["callout.header:x-envoy-expected-rq-timeout-ms"]}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local r = {h:httpCall("callout", {[":method"] = "POST", [":path"] = "/async", [":authority"] = "callout.test"}, "fire and forget", 5000, true)}
  h:headers():add("x-async", tostring(#r))
  local r2 = {h:httpCall("callout", {[":method"] = "GET", [":path"] = "/async2", [":authority"] = "callout.test"}, nil, {asynchronous = true, timeout_ms = 1000})}
  h:headers():add("x-async2", tostring(#r2))
end
function envoy_on_response(h)
  h:httpCall("callout", {[":method"] = "GET", [":path"] = "/async3", [":authority"] = "callout.test"}, nil, 0, true)
  h:headers():add("x-resp-async", "sent")
end
