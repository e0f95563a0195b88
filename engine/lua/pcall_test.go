package lua

import (
	"testing"

	"github.com/trafficext/trafficext/core"
)

// TestPcall_Yields: blocking host calls inside pcall and xpcall wait as they do outside, as
// with LuaJIT; what pcall returns is what it returns without a yield.
func TestPcall_Yields(t *testing.T) {
	ok200 := core.CalloutResponse{Headers: []core.Header{{Key: ":status", Value: "200"}}, Body: []byte("pong")}
	tests := []struct {
		name   string
		script string
		body   bool // the request has a body (one chunk, then its end)
		call   bool // answer one callout after the headers
		want   string
	}{
		{name: "pcall around httpCall", call: true, want: "true 200 pong", script: `
  local ok, h, b = pcall(function() return r:httpCall("c", req, nil, 100) end)
  r:logInfo("got " .. tostring(ok) .. " " .. h[":status"] .. " " .. b)`},
		{name: "pcall of the method itself", call: true, want: "true 200 pong", script: `
  local ok, h, b = pcall(r.httpCall, r, "c", req, nil, 100)
  r:logInfo("got " .. tostring(ok) .. " " .. h[":status"] .. " " .. b)`},
		{name: "xpcall around httpCall", call: true, want: "true 200", script: `
  local ok, h = xpcall(function() return r:httpCall("c", req, nil, 100) end, function(e) return "handled " .. e end)
  r:logInfo("got " .. tostring(ok) .. " " .. h[":status"])`},
		{name: "xpcall handler after a yield", call: true, want: "false handled", script: `
  local ok, e = xpcall(function() r:httpCall("c", req, nil, 100); error("boom") end, function(e) return "handled" end)
  r:logInfo("got " .. tostring(ok) .. " " .. e)`},
		{name: "body() inside pcall", body: true, want: "true 3", script: `
  local ok, b = pcall(function() return r:body() end)
  r:logInfo("got " .. tostring(ok) .. " " .. b:length())`},
		{name: "bodyChunks() inside pcall", body: true, want: "true abc", script: `
  local ok, s = pcall(function()
    local s = ""
    for c in r:bodyChunks() do s = s .. c:getBytes(0, c:length()) end
    return s
  end)
  r:logInfo("got " .. tostring(ok) .. " " .. s)`},
		{name: "nested pcalls", body: true, want: "true true 3", script: `
  local ok, ok2, b = pcall(pcall, function() return r:body() end)
  r:logInfo("got " .. tostring(ok) .. " " .. tostring(ok2) .. " " .. b:length())`},
		{name: "error after the yield is caught", body: true, want: "false", script: `
  local ok, e = pcall(function() r:body(); error("late") end)
  r:logInfo("got " .. tostring(ok) .. " " .. tostring(e:find("late") ~= nil))`},
		{name: "objects from before the yield are dead", body: true, want: "false object used outside of proper scope", script: `
  local hd = r:headers()
  local ok, e = pcall(function() r:body(); return hd:get("x") end)
  r:logInfo("got " .. tostring(ok) .. " " .. e:gsub("^.-: ", ""))`},
		{name: "no results stay no results", want: "0 1 2", script: `
  r:logInfo("got " .. (select("#", pcall(function() end)) - 1) .. " " .. (select("#", pcall(function() return nil end)) - 1) .. " " .. (select("#", pcall(function() return 1, nil end)) - 1))`},
		{name: "an error value stays a value", want: "false table", script: `
  local ok, e = pcall(error, {})
  r:logInfo("got " .. tostring(ok) .. " " .. type(e))`},
		{name: "non-function as plain pcall", want: "false attempt to call a number value", script: `
  local ok, e = pcall(42)
  r:logInfo("got " .. tostring(ok) .. " " .. e)`},
		{name: "a script's yield inside pcall reaches its coroutine", want: "true 1 2", script: `
  local co = coroutine.create(function() local ok, v = pcall(function() return coroutine.yield(1) + 1 end) return v end)
  local _, a = coroutine.resume(co)
  local ok, b = coroutine.resume(co, 1)
  r:logInfo("got " .. tostring(ok) .. " " .. a .. " " .. b)`},
		{name: "a host call inside pcall inside a script's coroutine still refuses", body: true, want: "false", script: `
  local co = coroutine.create(function() return pcall(r.body, r) end)
  local _, ok, e = coroutine.resume(co)
  r:logInfo("got " .. tostring(ok) .. " " .. tostring(e:find("C%-call boundary") ~= nil))`},
		{name: "a metamethod still refuses", body: true, want: "false true", script: `
  local t = setmetatable({}, {__index = function() return r:body() end})
  local ok, e = pcall(function() return t.x end)
  r:logInfo("got " .. tostring(ok) .. " " .. tostring(e:find("C%-call boundary") ~= nil))`},
		{name: "pcall recursion ends in a stack overflow", want: "true", script: `
  local depth = 0
  local function f(n) depth = n; pcall(f, n + 1) end
  f(1)
  r:logInfo("got " .. tostring(depth > 64 and depth < 1000))`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, h := load(t, `
local req = {[":method"] = "GET", [":path"] = "/", [":authority"] = "a"}
function envoy_on_request(r)
`+tt.script+`
end`)
			s := newStream()
			if tt.body {
				s.ReqBody = &fakeBuffer{Data: []byte("abc")}
			}
			f := p.NewFilter(s)
			defer f.OnDestroy()
			f.OnRequestHeaders(!tt.body && !tt.call)
			if tt.call {
				if len(s.Callouts) != 1 {
					t.Fatalf("callouts %d; logs:\n%s", len(s.Callouts), s.LogText())
				}
				s.Callouts[0].Done(ok200)
			}
			if tt.body {
				f.OnRequestBody(true)
			}
			if !s.Logged("got "+tt.want) || errorsCounted(s, h) != 0 {
				t.Errorf("want %q; logs:\n%s", "got "+tt.want, s.LogText())
			}
		})
	}
}

// TestPcall_PoolReused: a steady stream of pcalls reuses the pooled coroutines.
func TestPcall_PoolReused(t *testing.T) {
	p, _ := load(t, `
function envoy_on_request(r)
  for i = 1, 100 do pcall(function() return r:headers() end) end
  local ok = pcall(pcall, pcall, function() end)
end`)
	for i := 0; i < 3; i++ {
		s := newStream()
		f := p.NewFilter(s)
		f.OnRequestHeaders(true)
		f.OnDestroy()
	}
	pl := p
	pl.mu.Lock()
	defer pl.mu.Unlock()
	for _, v := range pl.free {
		if n := len(v.pco.threads); n > pcallPoolSize || v.pco.active != 0 {
			t.Errorf("pcall coroutines: %d known, %d active", n, v.pco.active)
		}
	}
}

// TestPcall_PlainWithoutYields: a script that cannot block keeps gopher-lua's pcall.
func TestPcall_PlainWithoutYields(t *testing.T) {
	if mayYield(`function envoy_on_request(r) pcall(r.headers, r) end`) {
		t.Error("a script that cannot yield uses the yieldable pcall")
	}
	if !mayYield(`function envoy_on_request(r) pcall(r.body, r) end`) {
		t.Error("a script calling body() keeps gopher-lua's pcall")
	}
}

// BenchmarkPcall: a hook making ten pcalls that do not yield, with gopher-lua's pcall
// ("plain") and with the yieldable one (the script mentions yield, which selects it).
func BenchmarkPcall(b *testing.B) {
	const hook = `
function envoy_on_request(h)
  local hd = h:headers()
  for i = 1, 10 do pcall(hd.get, hd, "x-number") end
end
`
	for _, c := range []struct{ name, code string }{{"plain", hook}, {"yieldable", "-- yield\n" + hook}} {
		b.Run(c.name, func(b *testing.B) { benchRoundTrip(b, c.code, false) })
	}
}
