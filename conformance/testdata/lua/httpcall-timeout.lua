--[[
description: "a callout that times out"
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local hdrs, body = h:httpCall("callout", {[":method"] = "GET", [":path"] = "/slow", [":authority"] = "callout.test", ["x-up-delay-ms"] = "300"}, nil, 50)
  h:headers():add("x-timeout", s(hdrs[":status"]) .. ":" .. s(body))
end
