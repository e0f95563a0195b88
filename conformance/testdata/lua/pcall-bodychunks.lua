--[[
description: "bodyChunks(), body() and trailers() inside pcall and xpcall, streamed bodies"
requests:
  - {method: POST, body: "0123456789abcdefghij", chunks: 4}
  - {method: POST, body: "with trailers", trailers: ["x-t: v"]}
  - {method: GET}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
function envoy_on_request(h)
  local ok, n, total = pcall(function()
    local n, total = 0, 0
    for c in h:bodyChunks() do n = n + 1; total = total + c:length() end
    return n, total
  end)
  h:headers():add("x-chunks", tostring(ok) .. ":" .. tostring(n > 0) .. ":" .. tostring(total))
  local okt, t = pcall(function() return h:trailers() end)
  h:headers():add("x-trailers", tostring(okt) .. ":" .. tostring(t and t:get("x-t")))
end
function envoy_on_response(h)
  local ok, len = xpcall(function()
    local b = h:body()
    return b and b:length() or -1
  end, function(m) return "handled " .. msg(m) end)
  h:headers():add("x-resp-body", tostring(ok) .. ":" .. tostring(len > 0))
  local ok2, e2 = pcall(function() h:body(); error("late") end)
  h:headers():add("x-resp-late", tostring(ok2) .. ":" .. msg(e2))
end
