--[[
description: "respond() once the headers were continued (inside bodyChunks) is an error"
requests:
  - {method: POST, body: "chunked body", chunks: 2}
]]
-- The outcome travels to the response in dynamic metadata: rewriting the streamed chunk with
-- setBytes would also set content-length on request headers the router may not have sent yet,
-- which races with the upstream connection in both implementations. Each distinct outcome is
-- recorded once: how many data callbacks two chunks become depends on timing (a loaded machine
-- can deliver a third, empty, end-of-stream callback).
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local out, seen = "", {}
  for c in h:bodyChunks() do
    local ok, e = pcall(h.respond, h, {[":status"] = "403"}, "late")
    local r = tostring(ok) .. ":" .. s(e and msg(e)) .. ";"
    if not seen[r] then
      seen[r] = true
      out = out .. r
    end
  end
  h:streamInfo():dynamicMetadata():set("conformance", "respond", out)
end
function envoy_on_response(h)
  local md = h:streamInfo():dynamicMetadata():get("conformance")
  h:headers():replace("x-respond-after-continue", md and md["respond"] or "none")
end
