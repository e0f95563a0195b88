--[[
description: "synchronous httpCall() on the response path"
requests:
  - {}
  - {headers: ["x-up-body: upstream", "x-up-chunks: 2"]}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_response(h)
  local hdrs, body = h:httpCall("callout", {[":method"] = "GET", [":path"] = "/from-response", [":authority"] = "callout.test", ["x-up-body"] = "resp callout"}, "", 5000)
  h:headers():add("x-resp-callout", hdrs[":status"] .. ":" .. s(body))
end
