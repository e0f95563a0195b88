--[[
description: "every log function on every object type"
requests:
  - {method: POST, body: "b"}
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
local function logall(o, tag)
  o:logTrace(tag .. " trace") o:logDebug(tag .. " debug") o:logInfo(tag .. " info")
  o:logWarn(tag .. " warn") o:logErr(tag .. " err") o:logCritical(tag .. " critical")
end
function envoy_on_request(h)
  h:logTrace("trace") h:logDebug("debug") h:logInfo("info") h:logWarn("warn") h:logErr("err") h:logCritical("critical")
  logall(h, "handle") logall(h:headers(), "headers") logall(h:streamInfo(), "streamInfo")
  logall(h:metadata(), "metadata") logall(h:streamInfo():dynamicMetadata(), "dm")
  local b = h:body()
  logall(b, "buffer")
  h:headers():add("x-logged", "yes")
end
function envoy_on_response(h)
  h:logTrace("trace") h:logDebug("debug") h:logInfo("info") h:logWarn("warn") h:logErr("err") h:logCritical("critical")
  logall(h, "handle") logall(h:headers(), "headers") logall(h:streamInfo(), "streamInfo")
  logall(h:connection(), "connection")
  h:headers():add("x-resp-logged", "yes")
end
