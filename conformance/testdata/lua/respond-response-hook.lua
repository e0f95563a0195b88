--[[
description: "the response hook runs on respond()'s local reply: what it sees and changes"
requests:
  - {path: /deny}
  - {path: /empty}
  - {path: /pass}
]]
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local p = h:headers():get(":path")
  h:streamInfo():dynamicMetadata():set("conf.reply", "path", p)
  if p == "/deny" then
    h:respond({[":status"] = "403", ["x-from-respond"] = "1"}, "denied body")
  elseif p == "/empty" then
    h:respond({[":status"] = "204", ["x-from-respond"] = "2"})
  end
end
function envoy_on_response(h)
  local hs = h:headers()
  local seen = s(hs:get(":status")) .. "|" .. s(hs:get("content-type")) .. "|" .. s(hs:get("content-length")) .. "|" .. s(hs:get("x-from-respond"))
  local md = h:streamInfo():dynamicMetadata():get("conf.reply")
  hs:add("x-resp-seen", seen .. "|" .. s(md and md.path))
  hs:add("x-resp-hook", "ran")
  if hs:get(":status") == "403" then
    hs:replace(":status", "401")
    local b = h:body()
    h:headers():add("x-resp-body", b and b:getBytes(0, b:length()) or "nil")
    if b then b:setBytes("rewritten by the response hook") end
  end
end
