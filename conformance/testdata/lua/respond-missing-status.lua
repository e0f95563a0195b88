--[[
description: "respond() without :status is an error"
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local ok, e = pcall(h.respond, h, {["x-a"] = "b"}, "body")
  h:headers():add("x-err", tostring(ok) .. ":" .. s(e and msg(e)))
end
