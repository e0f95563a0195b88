--[[
description: "respond() after body() (headers not yet continued)"
requests:
  - {method: POST, body: "deny me"}
  - {method: POST, body: "let me through"}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local b = h:body()
  if b:getBytes(0, 4) == "deny" then
    h:respond({[":status"] = "400"}, "body said " .. b:getBytes(0, b:length()))
  end
end
function envoy_on_response(h)
  h:headers():add("x-resp-hook", "ran")
end
