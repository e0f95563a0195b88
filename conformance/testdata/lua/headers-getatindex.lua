--[[
description: "getAtIndex / getNumValues with repeated headers, 0-based, out of range"
requests:
  - {headers: ["x-rep: a", "x-rep: b", "x-rep: c"]}
  - {headers: ["x-rep: only"]}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local hs = h:headers()
  local n = hs:getNumValues("x-rep")
  local out = {tostring(n)}
  for i = 0, n do out[#out + 1] = s(hs:getAtIndex("x-rep", i)) end
  out[#out + 1] = s(hs:getAtIndex("x-absent", 0))
  out[#out + 1] = tostring(hs:getNumValues("x-absent"))
  out[#out + 1] = s(hs:getAtIndex("X-REP", 0))
  hs:add("x-result", table.concat(out, ","))
  local ok, e = pcall(hs.getAtIndex, hs, "x-rep", -1)
  hs:add("x-negative", tostring(ok) .. ":" .. s(ok and e or msg(e)))
end
function envoy_on_response(h)
  local hs = h:headers()
  hs:add("x-ct-count", tostring(hs:getNumValues("content-type")))
  hs:add("x-ct-0", s(hs:getAtIndex("content-type", 0)))
  hs:add("x-ct-1", s(hs:getAtIndex("content-type", 1)))
end
