--[[
description: "respond() on the response path is an error"
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_response(h)
  local ok, e = pcall(h.respond, h, {[":status"] = "403"}, "no")
  h:headers():add("x-resp-respond", tostring(ok) .. ":" .. s(e and msg(e)))
end
