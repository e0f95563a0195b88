--[[
description: "pcall/xpcall/error levels and messages"
differences:
  - {id: LUA-D15, aspects: ["upstream.header:x-pcall-msgs"]}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local ok, e = pcall(function() error("lvl1") end)
  local ok2, e2 = pcall(function() error("lvl2", 2) end)
  local ok3, e3 = xpcall(function() error("xp") end, function(m) return "handled:" .. msg(m) end)
  local ok4, e4 = pcall(function() local x = nil; return x.y end)
  local ok5, e5 = pcall(function() return 1 + {} end)
  local ok6, e6 = pcall(function() return #nil end)
  local ok7, e7 = pcall(function() undefined_fn() end)
  h:headers():add("x-pcall", table.concat({msg(e), msg(e2), tostring(ok3), e3}, "|"))
  h:headers():add("x-pcall-msgs", table.concat({msg(e4), msg(e5), msg(e6), msg(e7)}, "|"))
end
