--[[
description: "httpCall() options table, return_duplicate_headers"
differences:
  - {id: LUA-D21, aspects: ["callout.header:x-forwarded-for"]}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
local function v(x)
  if type(x) == "table" then return table.concat(x, "+") end
  return s(x)
end
function envoy_on_request(h)
  local hd = {[":method"] = "GET", [":path"] = "/opts", [":authority"] = "callout.test", ["x-up-header"] = {"x-d: 1", "x-d: 2"}, ["x-up-body"] = "b"}
  local hdrs, body = h:httpCall("callout", hd, nil, {timeout_ms = 3000, return_duplicate_headers = true, send_xff = false, trace_sampled = false})
  h:headers():add("x-dup", v(hdrs["x-d"]))
  local hdrs2 = h:httpCall("callout", hd, nil, {timeout_ms = 3000})
  h:headers():add("x-nodup", v(hdrs2["x-d"]))
end
