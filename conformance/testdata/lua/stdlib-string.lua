--[[
description: "string library behaviour"
]]
local function msg(e) return (tostring(e):gsub("^[^\n]-:%d+: ", "")) end
local function s(v) if v == nil then return "nil" end return tostring(v) end
function envoy_on_request(h)
  local r = {
    string.format("%5.2f|%d|%s|%q|%x", 3.14159, 42, "s", "a\"b", 255),
    ("Hello"):upper(), ("Hello"):lower(), ("abc"):rep(3, "-") or "", ("hello world"):gsub("o", "0"),
    tostring(("hello"):find("l")), ("key=value"):match("(%w+)=(%w+)"), tostring(#"abc"),
    ("abc"):byte(2), string.char(72, 105), ("  trim  "):match("^%s*(.-)%s*$"), ("a,b,c"):sub(3, -2),
    tostring(("x"):rep(0) == ""), ("%d"):format(7), ("abc"):reverse(),
  }
  local parts = {}
  for w in ("one two three"):gmatch("%a+") do parts[#parts + 1] = w end
  r[#r + 1] = table.concat(parts, "+")
  h:headers():add("x-str", table.concat(r, ","))
end
