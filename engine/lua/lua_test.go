package lua

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trafficext/trafficext/core"
)

const parityScript = `
function envoy_on_request(request_handle)
  local n = tonumber(request_handle:headers():get("x-number"))
  if n ~= nil then
    local parity = (n % 2 == 0) and "even" or "odd"
    request_handle:streamInfo():dynamicMetadata():set("envoy.lua", "parity", parity)
  end
end
function envoy_on_response(response_handle)
  local md = response_handle:streamInfo():dynamicMetadata():get("envoy.lua")
  if md ~= nil and md["parity"] ~= nil then
    response_handle:headers():add("x-parity", md["parity"])
  end
end
`

// roundTrip runs headers-only request and response events.
func roundTrip(t testing.TB, p *plugin, s *fakeStream) (core.Status, core.Status) {
	t.Helper()
	f := p.NewFilter(s)
	defer f.OnDestroy()
	a := f.OnRequestHeaders(true)
	b := f.OnResponseHeaders(true)
	f.OnStreamComplete()
	return a, b
}

func TestEngine_Parity(t *testing.T) {
	for _, narrow := range []bool{false, true} {
		for _, tc := range []struct{ in, want string }{{"3", "odd"}, {"10", "even"}, {"", ""}, {"abc", ""}} {
			p, _ := load(t, parityScript)
			s := newStream()
			s.Dyn.Narrow = narrow
			if tc.in != "" {
				s.ReqH.Add("x-number", tc.in)
			}
			a, b := roundTrip(t, p, s)
			if a != core.Continue || b != core.Continue {
				t.Fatalf("statuses %v %v", a, b)
			}
			got, _ := s.RespH.Get("x-parity")
			if got != tc.want {
				t.Errorf("narrow=%v x-number=%q: x-parity=%q, want %q; logs:\n%s", narrow, tc.in, got, tc.want, s.LogText())
			}
		}
	}
}

// run loads code and runs it over a fresh stream (headers only both ways).
func run(t *testing.T, code string, setup ...func(*fakeStream)) (*fakeStream, *fakeHost, core.Status, core.Status) {
	t.Helper()
	p, h := load(t, code)
	s := newStream()
	for _, fn := range setup {
		fn(s)
	}
	a, b := roundTrip(t, p, s)
	return s, h, a, b
}

func TestHeaders_Methods(t *testing.T) {
	s, h, _, _ := run(t, `
function envoy_on_request(r)
  local h = r:headers()
  assert(h:get(":path") == "/", "path")
  assert(h:get("X-Multi") == "a,b", "joined: " .. tostring(h:get("x-multi")))
  assert(h:getAtIndex("x-multi", 0) == "a")
  assert(h:getAtIndex("x-multi", 1) == "b")
  assert(h:getAtIndex("x-multi", 2) == nil)
  assert(h:getAtIndex("x-multi", -1) == nil)
  assert(h:getNumValues("x-multi") == 2)
  assert(h:getNumValues("absent") == 0)
  assert(h:get("absent") == nil)
  h:add("X-Added", "1")
  h:add("x-added", "2")
  h:replace("x-multi", "c")
  h:replace("x-new", "n")
  h:remove("x-gone")
  local n = 0
  for k, v in pairs(h) do n = n + 1 end
  assert(n == 7, "count " .. n)
end`, func(s *fakeStream) {
		s.ReqH.Add("x-multi", "a")
		s.ReqH.Add("x-multi", "b")
		s.ReqH.Add("x-gone", "z")
	})
	if got := s.ReqH.Values("x-added"); strings.Join(got, ",") != "1,2" {
		t.Errorf("x-added = %v", got)
	}
	if got := s.ReqH.Values("x-multi"); strings.Join(got, ",") != "c" {
		t.Errorf("x-multi = %v", got)
	}
	if _, ok := s.ReqH.Get("x-gone"); ok {
		t.Error("x-gone not removed")
	}
	if errorsCounted(s, h) != 0 {
		t.Fatalf("script error: %s", s.LogText())
	}
	if s.RouteCleared != 1 {
		t.Errorf("route cache cleared %d times, want 1", s.RouteCleared)
	}
}

func TestHeaders_Errors(t *testing.T) {
	for _, tc := range []struct{ name, code, want string }{
		{"modify while iterating", `for k, v in pairs(r:headers()) do r:headers():add("a", "b") end`, "header map cannot be modified while iterating"},
		{"second iterator", `local h = r:headers(); local it = pairs(h); pairs(h)`, "cannot create a second iterator before completing the first"},
		{"dot call", `r.headers()`, "host object expected"},
		{"bad arg", `r:headers():add("a")`, "bad argument #3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, h, a, _ := run(t, "function envoy_on_request(r) "+tc.code+" end")
			if a != core.Continue || errorsCounted(s, h) != 1 || !s.Logged(tc.want) {
				t.Errorf("status %v errors %d; logs:\n%s", a, errorsCounted(s, h), s.LogText())
			}
		})
	}
}

func TestHeaders_ContinuedNotModifiable(t *testing.T) {
	p, h := load(t, `
function envoy_on_request(r)
  r:body()
  r:headers():add("x-after-body", "ok")
  for chunk in r:bodyChunks() do end
end`)
	s := newStream()
	s.ReqBody = &fakeBuffer{Data: []byte("hello")}
	f := p.NewFilter(s)
	if st := f.OnRequestHeaders(false); st != core.StopIteration {
		t.Fatalf("headers: %v", st)
	}
	if st := f.OnRequestBody(true); st != core.Continue {
		t.Fatalf("body: %v", st)
	}
	if v, _ := s.ReqH.Get("x-after-body"); v != "ok" {
		t.Errorf("header after body() not written")
	}
	// bodyChunks after body() is an error.
	if errorsCounted(s, h) != 1 || !s.Logged("cannot call bodyChunks after body processing has begun") {
		t.Errorf("logs:\n%s", s.LogText())
	}
	f.OnDestroy()

	p2, h2 := load(t, `
function envoy_on_request(r)
  for c in r:bodyChunks() do end
  r:headers():add("x-late", "1")
end`)
	s = newStream()
	s.ReqBody = &fakeBuffer{Data: []byte("x")}
	f = p2.NewFilter(s)
	if st := f.OnRequestHeaders(false); st != core.Continue {
		t.Fatalf("headers: %v", st)
	}
	f.OnRequestBody(true)
	if !s.Logged("header map can no longer be modified") || errorsCounted(s, h2) != 1 {
		t.Errorf("logs:\n%s", s.LogText())
	}
}

func TestDynamicMetadata(t *testing.T) {
	for _, narrow := range []bool{false, true} {
		s, h, _, _ := run(t, `
function envoy_on_request(r)
  local dm = r:streamInfo():dynamicMetadata()
  dm:set("ns", "s", "str")
  dm:set("ns", "n", 42)
  dm:set("ns", "b", true)
  dm:set("ns", "t", {a = 1, list = {"x", "y"}})
  local md = dm:get("ns")
  assert(md.s == "str" and md.n == 42 and md.b == true, "scalars")
  assert(md.t.a == 1 and md.t.list[2] == "y", "table")
  assert(md.hostonly == "h", "host fallback")
  assert(dm:get("nothing-here") == nil or `+boolLua(narrow)+`, "absent namespace")
  local keys = {}
  for k, v in pairs(md) do keys[#keys + 1] = k end
  assert(#keys >= 4, "pairs lists set keys: " .. #keys)
  local names = 0
  for ns, t in pairs(dm) do names = names + 1; assert(type(t) == "table") end
  assert(names == 1, "namespaces " .. names)
end
function envoy_on_response(r)
  local md = r:streamInfo():dynamicMetadata():get("ns")
  assert(md.t.list[1] == "x", "response sees table set on request")
  assert(md.b == true)
end`, func(s *fakeStream) {
			s.Dyn.Narrow = narrow
			s.Dyn.Set("ns", "hostonly", "h")
		})
		if errorsCounted(s, h) != 0 {
			t.Fatalf("narrow=%v: %s", narrow, s.LogText())
		}
		if v, _ := s.Dyn.Get("ns", "s"); v != "str" {
			t.Errorf("host did not get the string: %v", v)
		}
		if v, _ := s.Dyn.Get("ns", "n"); v != 42.0 {
			t.Errorf("host did not get the number: %v", v)
		}
		if _, ok := s.Dyn.Get("ns", "b"); ok == narrow {
			t.Errorf("narrow=%v: bool on host = %v", narrow, ok)
		}
	}
}

func boolLua(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func TestRespond(t *testing.T) {
	s, h, a, _ := run(t, `
function envoy_on_request(r)
  r:respond({[":status"] = "403", ["X-Reason"] = "nope"}, "denied")
  error("not reached")
end`)
	if a != core.Replied || len(s.Replies) != 1 {
		t.Fatalf("status %v replies %v", a, s.Replies)
	}
	r := s.Replies[0]
	if r.Status != 403 || string(r.Body) != "denied" || r.Details != "lua_response" {
		t.Errorf("reply %+v", r)
	}
	found := false
	for _, hd := range r.Headers {
		found = found || (hd.Key == "x-reason" && hd.Value == "nope")
	}
	if !found {
		t.Errorf("headers %v", r.Headers)
	}
	if errorsCounted(s, h) != 0 {
		t.Errorf("logs:\n%s", s.LogText())
	}
}

func TestRespond_Errors(t *testing.T) {
	for _, tc := range []struct{ name, code, want string }{
		{"response path", `function envoy_on_response(r) r:respond({[":status"] = "403"}) end`, "respond not currently supported in the response path"},
		{"bad status", `function envoy_on_request(r) r:respond({[":status"] = "99"}) end`, ":status must be between 200-599"},
		{"no status", `function envoy_on_request(r) r:respond({}) end`, ":status must be between 200-599"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, h, a, b := run(t, tc.code)
			if a != core.Continue || b != core.Continue || len(s.Replies) != 0 || errorsCounted(s, h) != 1 || !s.Logged(tc.want) {
				t.Errorf("statuses %v %v replies %d; logs:\n%s", a, b, len(s.Replies), s.LogText())
			}
		})
	}
}

func TestLogging(t *testing.T) {
	s, _, _, _ := run(t, `
function envoy_on_request(r)
  r:logTrace("t") r:logDebug("d") r:logInfo("i") r:logWarn("w") r:logErr("e") r:logCritical("c")
  r:headers():logInfo("from headers")
  print("printed", 1)
end`, func(s *fakeStream) { s.LogMin = core.LogInfo })
	want := []logLine{{Level: core.LogInfo, Msg: "script log: i"}, {Level: core.LogWarn, Msg: "script log: w"}, {Level: core.LogError, Msg: "script log: e"}, {Level: core.LogCritical, Msg: "script log: c"}, {Level: core.LogInfo, Msg: "script log: from headers"}}
	if len(s.Logs) != len(want) {
		t.Fatalf("logs:\n%s", s.LogText())
	}
	for i, w := range want {
		if s.Logs[i] != w {
			t.Errorf("log %d = %+v, want %+v", i, s.Logs[i], w)
		}
	}
}

func TestLoad_Errors(t *testing.T) {
	for _, tc := range []struct{ name, code, want string }{
		{"syntax", "function envoy_on_request(r)\n  local x = \n\n  x(\nend", "lua.inlineCode: line "},
		{"syntax line", "local a = 1\nlocal b = 2\nlocal = 3\n", "line 3"},
		{"no hooks", "local x = 1", "neither envoy_on_request nor envoy_on_response"},
		{"top-level error", "error('boom')\nfunction envoy_on_request() end", "boom"},
		{"top-level loop", "while true do end", "timeout"},
		{"io is absent", "io.open('/etc/passwd')", "with key 'open'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Options{}).Load(extension(tc.code), &fakeHost{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestSandbox(t *testing.T) {
	s, h, _, _ := run(t, `
function envoy_on_request(r)
  assert(io == nil and debug == nil and package == nil and require == nil and dofile == nil and loadfile == nil)
  assert(os.execute == nil and os.getenv == nil and os.remove == nil and os.exit == nil)
  assert(type(os.time()) == "number" and type(os.clock()) == "number" and type(os.date("%Y")) == "string")
  assert(bit.band(0xff, 0x0f) == 15)
  assert(bit.bor(1, 2, 4) == 7)
  assert(bit.bxor(5, 3) == 6)
  assert(bit.bnot(0) == -1)
  assert(bit.lshift(1, 31) == -2147483648)
  assert(bit.rshift(-1, 28) == 15)
  assert(bit.arshift(-16, 2) == -4)
  assert(bit.tohex(255) == "000000ff")
  assert(bit.tohex(-1, -4) == "FFFF")
  assert(bit.tobit(0xffffffff + 1) == 0)
  assert(EnvoyTimestampResolution.MILLISECOND == 0)
  assert(collectgarbage("count") == 0)
  local ok = pcall(string.dump, function() end)
  assert(not ok)
end`)
	if errorsCounted(s, h) != 0 {
		t.Fatalf("logs:\n%s", s.LogText())
	}
}

func TestScriptErrors_FailOpen(t *testing.T) {
	for _, tc := range []struct {
		name, code, want string
		timeout          bool
	}{
		{"runtime error", `local x = nil; x.y = 1`, "attempt to index", false},
		{"error call", `error("custom failure")`, "custom failure", false},
		{"infinite loop", `while true do end`, "context deadline exceeded", true},
		{"loop in pcall", `while true do pcall(function() while true do end end) end`, "context deadline exceeded", true},
		{"loop in coroutine", `local co = coroutine.wrap(function() while true do end end) co()`, "deadline exceeded", true},
		{"deep recursion", `local function f(n) return 1 + f(n + 1) end f(1)`, "stack overflow", false},
		{"huge allocation", `local s = string.rep("x", 1e9)`, "resulting string too large", false},
		{"huge allocation method", `local s = ("x"):rep(1e9)`, "resulting string too large", false},
		{"unexpected yield", `coroutine.yield()`, "script performed an unexpected yield", false},
		{"stale handle", `saved = r`, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			s, h, a, b := run(t, "function envoy_on_request(r) r:headers():add('x-before', '1') "+tc.code+" end\nfunction envoy_on_response(r) r:headers():add('x-resp', '1') end")
			if time.Since(start) > 2*time.Second {
				t.Errorf("took %v", time.Since(start))
			}
			if a != core.Continue || b != core.Continue {
				t.Errorf("statuses %v %v", a, b)
			}
			if _, ok := s.ReqH.Get("x-before"); !ok {
				t.Error("change made before the error was lost")
			}
			if _, ok := s.RespH.Get("x-resp"); !ok {
				t.Error("response hook did not run after a request error")
			}
			if tc.want == "" {
				return
			}
			if errorsCounted(s, h) != 1 || !s.Logged(tc.want) || !s.Logged("script log: ") {
				t.Errorf("errors %d; logs:\n%s", errorsCounted(s, h), s.LogText())
			}
			if got := timeoutsCounted(s, h); (got == 1) != tc.timeout {
				t.Errorf("timeouts counted %d", got)
			}
		})
	}
}

func TestStaleHandle(t *testing.T) {
	s, h, _, _ := run(t, `
function envoy_on_request(r) saved = r; savedh = r:headers() end
function envoy_on_response(r) savedh:get("a") end`)
	if errorsCounted(s, h) != 1 || !s.Logged("object used outside of proper scope") {
		t.Errorf("logs:\n%s", s.LogText())
	}
}

func TestHostPanic_RePanics(t *testing.T) {
	for _, code := range []string{
		`r:streamInfo():protocol()`,
		`pcall(function() r:streamInfo():protocol() end)`,
	} {
		p, _ := load(t, "function envoy_on_request(r) "+code+" end")
		s := newStream()
		s.PanicOnAttribute = true
		f := p.NewFilter(s)
		func() {
			defer func() {
				if r := recover(); r != "attribute exploded" {
					t.Errorf("%s: recovered %v", code, r)
				}
			}()
			f.OnRequestHeaders(true)
			t.Errorf("%s: no panic", code)
		}()
		f.OnDestroy()
		if p.idle() != 0 {
			t.Errorf("a state that saw a host panic went back to the pool")
		}
	}
}

func TestPool_Reuse(t *testing.T) {
	p, _ := load(t, `
calls = 0
function envoy_on_request(r) calls = calls + 1; r:headers():add("x-calls", tostring(calls)) end`)
	if p.idle() != 1 {
		t.Fatalf("idle after load = %d", p.idle())
	}
	first := p.free[0]
	for i := 1; i <= 3; i++ {
		s := newStream()
		roundTrip(t, p, s)
		if v, _ := s.ReqH.Get("x-calls"); v != string(rune('0'+i)) {
			t.Errorf("request %d saw calls=%s (globals live per state, like Envoy's per-worker state)", i, v)
		}
	}
	if p.idle() != 1 || p.free[0] != first {
		t.Errorf("state not reused")
	}
	firstTh := first.th

	// A timed-out state is discarded.
	p2, _ := load(t, `function envoy_on_request(r) if r:headers():get("loop") then while true do end end end`, Options{CallTimeout: 5 * time.Millisecond})
	v := p2.free[0]
	s := newStream()
	s.ReqH.Add("loop", "1")
	roundTrip(t, p2, s)
	if p2.idle() != 0 {
		t.Errorf("timed-out state returned to the pool")
	}
	_ = v
	roundTrip(t, p2, newStream())
	if p2.idle() != 1 || p2.free[0] == v {
		t.Errorf("no fresh state after a timeout")
	}
	if firstTh == nil {
		t.Errorf("thread not kept for reuse")
	}
}

func TestPlugin_Concurrency(t *testing.T) {
	// The call timeout is wall clock: on an oversubscribed test machine (32 goroutines on a
	// few CPUs, -race) a 20ms bound would count preemption as script time.
	p, h := load(t, parityScript, Options{CallTimeout: 5 * time.Second})
	var wg sync.WaitGroup
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				s := newStream()
				s.ReqH.Add("x-number", "7")
				roundTrip(t, p, s)
				if v, _ := s.RespH.Get("x-parity"); v != "odd" || errorsCounted(s, h) != 0 {
					t.Errorf("goroutine %d: x-parity=%q logs %s", g, v, s.LogText())
					return
				}
			}
		}(g)
	}
	wg.Wait()
	if n := p.idle(); n < 1 || n > DefaultMaxIdleStates {
		t.Errorf("idle = %d", n)
	}
	p.Close()
	if p.idle() != 0 {
		t.Errorf("Close left states")
	}
}

func TestNoHook_PassThrough(t *testing.T) {
	p, _ := load(t, `function envoy_on_response(r) r:headers():add("x", "1") end`)
	s := newStream()
	f := p.NewFilter(s)
	if st := f.OnRequestHeaders(false); st != core.Continue {
		t.Fatal(st)
	}
	if st := f.OnRequestBody(true); st != core.Continue {
		t.Fatal(st)
	}
	if st := f.OnResponseHeaders(true); st != core.Continue {
		t.Fatal(st)
	}
	if v, _ := s.RespH.Get("x"); v != "1" {
		t.Error("response hook did not run")
	}
}
