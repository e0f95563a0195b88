--[[
description: "a failed callout returns :status 503 and \"upstream failure\""
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local hdrs, body = h:httpCall("dead", {[":method"] = "GET", [":path"] = "/", [":authority"] = "dead.test"}, nil, 2000)
  h:headers():add("x-dead", s(hdrs[":status"]) .. ":" .. s(body))
end
