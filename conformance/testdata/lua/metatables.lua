--[[
description: "metatables, __index, __newindex, __call, __tostring, __pairs on a table"
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local log = {}
  local obj = setmetatable({}, {
    __index = function(t, k) return "idx:" .. k end,
    __newindex = function(t, k, v) rawset(t, k, v .. "!") end,
    __call = function(self, a) return "called:" .. a end,
    __tostring = function() return "OBJ" end,
  })
  obj.x = "v"
  local withPairs = setmetatable({}, {__pairs = function(t) return function(_, k) if k == nil then return "only", 1 end end, t, nil end})
  local keys = {}
  for k, v in pairs(withPairs) do keys[#keys + 1] = k end
  h:headers():add("x-meta", table.concat({obj.y, obj.x, obj("a"), tostring(obj), table.concat(keys, ";")}, ","))
end
