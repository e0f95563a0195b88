--[[
description: "pairs() over request and response headers (map order)"
requests:
  - {headers: ["x-one: 1", "x-two: 2", "x-one: 3"]}
listeners: [gateway, sidecar]
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local out = {}
  for k, v in pairs(h:headers()) do
    if k ~= "content-length" and k ~= "transfer-encoding" then out[#out + 1] = k .. "=" .. v end
  end
  -- Go's HTTP/2 client sends headers in random order: compare the order over HTTP/1.1 only.
  if h:streamInfo():protocol() == "HTTP/2" then table.sort(out) end
  h:headers():add("x-pairs", table.concat(out, ";"))
end
function envoy_on_response(h)
  local out = {}
  for k, v in pairs(h:headers()) do
    if k ~= "date" and k ~= "server" and k ~= "x-envoy-upstream-service-time" then out[#out + 1] = k .. "=" .. v end
  end
  h:headers():add("x-resp-pairs", table.concat(out, ";"))
end
