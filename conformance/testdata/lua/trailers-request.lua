--[[
description: "trailers() on the request: read, replace, add"
requests:
  - {method: POST, body: "with trailers", trailers: ["x-t1: one", "x-t2: two"]}
  - {method: POST, body: "no trailers"}
protocols: [http1, http2]
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local b = h:body()
  local t = h:trailers()
  if t == nil then
    h:streamInfo():dynamicMetadata():set("conf", "trailers", "none")
    return
  end
  h:streamInfo():dynamicMetadata():set("conf", "trailers", s(t:get("x-t1")) .. "," .. s(t:get("x-t2")))
  t:replace("x-t1", "replaced")
  t:add("x-t3", "added")
  t:remove("x-t2")
end
function envoy_on_response(h)
  local m = h:streamInfo():dynamicMetadata():get("conf")
  h:headers():add("x-req-trailers", s(m and m["trailers"]))
end
