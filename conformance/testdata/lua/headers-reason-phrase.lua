--[[
description: "setHttp1ReasonPhrase on the response"
protocols: [http1, http2]
differences:
  - {id: LUA-D16, aspects: ["status"]}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local ok, e = pcall(function() h:headers():setHttp1ReasonPhrase("Nope") end)
  h:headers():add("x-req-reason", tostring(ok) .. ":" .. s(e and msg(e)))
end
function envoy_on_response(h)
  h:headers():setHttp1ReasonPhrase("Totally Fine")
end
