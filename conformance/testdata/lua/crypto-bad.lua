--[[
description: "verifySignature with a bad key and an unknown hash"
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local key = h:importPublicKey("not a key", 9):get()
  local ok, e = h:verifySignature("sha256", key, "sig", 3, "data", 4)
  h:headers():add("x-bad-key", tostring(ok) .. ":" .. s(e) .. ":" .. tostring(key ~= nil))
  local ok2, e2 = h:verifySignature("md5", key, "sig", 3, "data", 4)
  h:headers():add("x-bad-hash", tostring(ok2) .. ":" .. s(e2))
end
