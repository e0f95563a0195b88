--[[
description: "importPublicKey and verifySignature with an RSA key"
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
local function unhex(x) return (x:gsub("..", function(c) return string.char(tonumber(c, 16)) end)) end
local PUB = unhex("30819f300d06092a864886f70d010101050003818d0030818902818100c386ceaa220befa4a6c2ba69f9ea3f311b2694082bf346dbacdede819ddf59469ff8051e94714279c4cb1eb3bd25d20f6b5d7637b325eb3481f5f9b4c84bab399b93466e4ce00df46bf1446414bf657e948199799d1918996461cb94ea52f365300359adc64fd61265931e42c7838809085ef82eb187878963ffdf18e71f2b850203010001")
local SIG = unhex("1171ed96cc041be759f83d770fd666a540b5d7b4adffb62773c98dc6e6f9e2bd2c719a93a898f71152a0fc396f16758297ccc2bbbb948e4f03426b8c27c30edc07bf4aca489abaa8991de577a68cabf40396aa7478a36c912f5fb9edb5a8a57fd0b551faa6f0f1a83ef6ec7d326db4e5995dba95b2d0a0928d3fa216f023b7c4")
local function check(h, key, ok, e)

  local bad, e2 = h:verifySignature("sha256", key, SIG, #SIG, "hello there", 11)
  local r = tostring(ok) .. ":" .. s(e) .. "|" .. tostring(bad) .. ":" .. s(e2)
  local ok3, e3 = h:verifySignature("SHA1", key, SIG, #SIG, "hello world", 11)
  return r .. "|" .. tostring(ok3) .. ":" .. s(e3)
end
function envoy_on_request(h)
  local key = h:importPublicKey(PUB, #PUB):get()
  local ok, e = h:verifySignature("sha256", key, SIG, #SIG, "hello world", 11)
  h:headers():add("x-verify", check(h, key, ok, e))
end
function envoy_on_response(h)
  local key = h:importPublicKey(PUB, #PUB):get()
  local ok, e = h:verifySignature("sha256", key, SIG, #SIG, "hello world", 11)
  h:headers():add("x-resp-verify", check(h, key, ok, e))
end
