--[[
description: "what the callout's upstream receives (reported back in the callout body)"
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local hdrs, body = h:httpCall("callout", {[":method"] = "GET", [":path"] = "/report", [":authority"] = "callout.test", ["X-Mixed"] = "m", ["x-arr"] = {"a", "b"}}, nil, 5000)
  h:headers():add("x-callout-report", s(body))
end
