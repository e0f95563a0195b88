--[[
description: "a basic-auth check reading authorization (benchmark script)"
requests:
  - {headers: ["authorization: Basic dXNlcjpwYXNz"]}
  - {headers: ["authorization: Basic d3Jvbmc6d3Jvbmc="]}
  - {}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
local expected = "Basic " .. "dXNlcjpwYXNz"
function envoy_on_request(h)
  local auth = h:headers():get("authorization")
  if auth ~= expected then
    h:respond({[":status"] = "401", ["www-authenticate"] = 'Basic realm="conf"'}, "unauthorized")
  end
  h:headers():remove("authorization")
  h:headers():add("x-user", "user")
end
function envoy_on_response(h)
  h:headers():add("x-resp-hook", "ran")
end
