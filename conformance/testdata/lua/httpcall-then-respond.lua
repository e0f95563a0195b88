--[[
description: "respond() after a synchronous callout, depending on its answer"
requests:
  - {path: /allow}
  - {path: /deny}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local path = h:headers():get(":path")
  local status = path == "/deny" and "403" or "200"
  local hdrs, body = h:httpCall("callout", {[":method"] = "GET", [":path"] = "/authz", [":authority"] = "authz", ["x-up-status"] = status, ["x-up-body"] = "authz"}, nil, 2000)
  if hdrs[":status"] ~= "200" then
    h:respond({[":status"] = "401", ["x-authz"] = hdrs[":status"]}, "denied by callout")
  end
  h:headers():add("x-authz", hdrs[":status"])
end
