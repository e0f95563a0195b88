--[[
description: "getBytes index/length checks"
requests:
  - {method: POST, body: "0123456789"}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
local function try(f, ...)
  local ok, e = pcall(f, ...)
  return tostring(ok) .. ":" .. s(ok and e or msg(e))
end
function envoy_on_request(h)
  local b = h:body()
  local r = {try(b.getBytes, b, 0, 10), try(b.getBytes, b, 5, 6), try(b.getBytes, b, -1, 2), try(b.getBytes, b, 2, -1), try(b.getBytes, b, 10, 0), try(b.getBytes, b, 3)}
  h:headers():add("x-results", table.concat(r, "|"))
end
