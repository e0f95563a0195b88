--[[
description: "headers kept past the point they were continued cannot be modified"
requests:
  - {method: POST, body: "some body", chunks: 2}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local hs = h:headers()
  for chunk in h:bodyChunks() do
    local ok, e = pcall(hs.add, hs, "x-late", "v")
    h:logErr("late add: " .. tostring(ok) .. ":" .. s(e and msg(e)))
    if ok then error("late add succeeded") end
  end
end
function envoy_on_response(h)
  h:headers():add("x-resp", "ok")
end
