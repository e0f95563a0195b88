--[[
description: "base64Escape of text and binary"
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  h:headers():add("x-b64", h:base64Escape("hello world") .. "|" .. h:base64Escape("") .. "|" .. h:base64Escape("\0\1\2\255\254") .. "|" .. h:base64Escape("ab"))
end
function envoy_on_response(h)
  h:headers():add("x-resp-b64", h:base64Escape("user:pass"))
end
