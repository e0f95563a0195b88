--[[
description: "a handle kept in a global and used by a later request"
requests:
  - {}
  - {}
protocols: [http1]
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
saved = nil
function envoy_on_request(h)
  if saved ~= nil then
    local ok, e = pcall(function() return saved:headers():get(":path") end)
    h:headers():add("x-stale", tostring(ok) .. ":" .. s(e and not ok and msg(e)))
  end
  saved = h
end
