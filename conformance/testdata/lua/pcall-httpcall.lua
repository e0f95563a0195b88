--[[
description: "synchronous httpCall() inside pcall and xpcall, on both paths"
requests:
  - {}
listeners: [gateway, sidecar]
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local req = {[":method"] = "GET", [":path"] = "/in-pcall", [":authority"] = "callout.test", ["x-up-body"] = "pong", ["x-up-header"] = "x-c: 1"}
function envoy_on_request(h)
  local ok, hd, body = pcall(function() return h:httpCall("callout", req, "ping", 3000) end)
  h:headers():add("x-pcall", tostring(ok) .. ":" .. hd[":status"] .. ":" .. tostring(hd["x-c"]) .. ":" .. tostring(body))
  local ok2, hd2 = pcall(h.httpCall, h, "callout", req, nil, {timeout_ms = 3000})
  h:headers():add("x-pcall-method", tostring(ok2) .. ":" .. hd2[":status"])
  local ok3, e3 = xpcall(function()
    local r = h:httpCall("callout", req, nil, 3000)
    error("after " .. r[":status"])
  end, function(m) return "handled " .. msg(m) end)
  h:headers():add("x-xpcall", tostring(ok3) .. ":" .. e3)
  local ok4, e4 = pcall(function() return h:httpCall("no-such-cluster", req, nil, 3000) end)
  h:headers():add("x-pcall-unknown", tostring(ok4) .. ":" .. msg(e4))
  local ok5, r5 = pcall(pcall, function() return h:httpCall("callout", req, nil, 3000)[":status"] end)
  h:headers():add("x-pcall-nested", tostring(ok5) .. ":" .. tostring(r5))
end
function envoy_on_response(h)
  local ok, hd = pcall(function() return h:httpCall("callout", req, nil, 3000) end)
  h:headers():add("x-resp-pcall", tostring(ok) .. ":" .. hd[":status"])
end
