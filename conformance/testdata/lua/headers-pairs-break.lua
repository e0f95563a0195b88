--[[
description: "break out of pairs(), then a second iteration and modification"
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local hs = h:headers()
  for k, v in pairs(hs) do break end
  local ok, e = pcall(function()
    local n = 0
    for k, v in pairs(hs) do n = n + 1 end
    return n
  end)
  hs:add("x-second-iter", tostring(ok) .. ":" .. (ok and "counted" or msg(e)))
  local ok2, e2 = pcall(hs.add, hs, "x-after-break", "v")
  hs:replace("x-mod-after-break", tostring(ok2) .. ":" .. s(e2 and msg(e2)))
end
