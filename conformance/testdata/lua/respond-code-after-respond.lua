--[[
description: "code after respond() does not run"
requests:
  - {}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  h:respond({[":status"] = "418", ["content-type"] = "text/teapot"}, "short and stout")
  error("must not run")
end
