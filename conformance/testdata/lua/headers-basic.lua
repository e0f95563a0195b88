--[[
description: "header get/add/replace/remove on the request and the response"
requests:
  - {headers: ["x-a: 1", "x-multi: one", "x-multi: two", "X-Mixed-Case: v"]}
  - {method: POST, path: /post, body: "payload", headers: ["x-a: 2"]}
listeners: [gateway, sidecar]
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local hs = h:headers()
  hs:add("x-added", "added")
  hs:replace("x-a", "replaced-" .. s(hs:get("x-a")))
  hs:replace("x-new-by-replace", "v")
  hs:add("x-multi-joined", s(hs:get("x-multi")))
  hs:remove("x-multi")
  hs:add("x-get-mixed", s(hs:get("x-mixed-case")) .. "/" .. s(hs:get("X-MIXED-CASE")))
  local absent = hs:get("x-absent")
  hs:add("x-get-absent", s(absent))
  hs:add("x-method", hs:get(":method") .. " " .. hs:get(":path") .. " " .. hs:get(":authority"))
end
function envoy_on_response(h)
  local hs = h:headers()
  hs:add("x-resp-added", "r")
  hs:replace("content-type", "text/x-replaced")
  hs:add("x-status", hs:get(":status"))
  hs:remove("x-absent")
  hs:remove("content-type")
  hs:add("content-type", "text/again")
end
