--[[
description: "synchronous httpCall() on the request path"
requests:
  - {}
  - {method: POST, body: "orig"}
listeners: [gateway, sidecar]
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local hdrs, body = h:httpCall("callout", {[":method"] = "POST", [":path"] = "/callout/path", [":authority"] = "callout.test", ["x-callout-h"] = "1", ["x-up-body"] = "callout says hi", ["x-up-header"] = "x-from-callout: yes"}, "callout body", 5000)
  h:headers():add("x-callout-status", hdrs[":status"])
  h:headers():add("x-callout-hdr", s(hdrs["x-from-callout"]))
  h:headers():add("x-callout-body", s(body))
end
