--[[
description: "respond() status validation and header values"
requests:
  - {path: /599}
  - {path: /200}
  - {path: /199}
  - {path: /600}
  - {path: /abc}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local st = h:headers():get(":path"):sub(2)
  local ok, e = pcall(h.respond, h, {[":status"] = st, ["x-multi"] = {"a", "b"}}, "status " .. st)
  h:headers():add("x-respond-error", s(e and msg(e)))
end
