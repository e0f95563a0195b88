--[[
description: "many headers, long values"
requests:
  - {headers: ["x-h1: 1", "x-h2: 2", "x-h3: 3", "x-h4: 4", "x-h5: 5", "x-h6: 6"]}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local hs = h:headers()
  for i = 1, 50 do hs:add("x-gen-" .. i, string.rep("v", i)) end
  for i = 1, 6 do hs:remove("x-h" .. i) end
  hs:add("x-long", string.rep("0123456789", 400))
end
function envoy_on_response(h)
  local hs = h:headers()
  for i = 1, 20 do hs:add("x-resp-gen-" .. i, tostring(i * i)) end
end
