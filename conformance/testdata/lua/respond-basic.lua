--[[
description: "respond() with headers and a body, and without a body"
requests:
  - {path: /deny}
  - {path: /deny-empty}
  - {path: /pass}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local p = h:headers():get(":path")
  if p == "/deny" then
    h:respond({[":status"] = "403", ["x-reason"] = "denied", ["X-Upper"] = "u"}, "nope")
  elseif p == "/deny-empty" then
    h:respond({[":status"] = "204"})
  end
end
function envoy_on_response(h)
  h:headers():add("x-resp-hook", "ran")
end
