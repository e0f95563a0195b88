package wasm

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trafficext/trafficext/core"
	"github.com/trafficext/trafficext/engine/wasm/wasmtest"
	"github.com/trafficext/trafficext/extconfig"
)

// testEngine runs one VM per plugin: test goroutines move between OS threads, so thread
// affinity would spread sequential streams over VMs and make per-VM state nondeterministic.
var testEngine = New(Options{CacheDir: cacheDirForTests(), MaxVMsPerPlugin: 1})

func cacheDirForTests() string {
	if d := os.Getenv("TRAFFICEXT_WAZERO_CACHE"); d != "" {
		return d
	}
	return ""
}

type guestFn func(t testing.TB) wasmtest.Guest

func goGuest(name string) guestFn {
	return func(t testing.TB) wasmtest.Guest { return wasmtest.Go(t, name) }
}
func cGuest(name, variant string) guestFn {
	return func(t testing.TB) wasmtest.Guest { return wasmtest.C(t, name, variant) }
}

func load(t *testing.T, e *Engine, g wasmtest.Guest, mod func(*extconfig.Extension)) (core.Plugin, *fakeHost) {
	t.Helper()
	ext := &extconfig.Extension{
		Schema: extconfig.SchemaVersion,
		Name:   "extensions.istio.io/trafficextension/ns.wasmtest",
		Wasm:   &extconfig.Wasm{Path: g.Path, SHA256: g.SHA256, PluginName: "root"},
	}
	if mod != nil {
		mod(ext)
	}
	h := &fakeHost{}
	p, err := e.Load(ext, h)
	if err != nil {
		t.Fatalf("Load: %v\nlogs: %v", err, h.Logs)
	}
	t.Cleanup(p.Close)
	return p, h
}

func withConfig(cfg string) func(*extconfig.Extension) {
	return func(e *extconfig.Extension) { e.Wasm.PluginConfig = []byte(cfg) }
}

func TestEngine_Headers(t *testing.T) {
	for name, g := range map[string]guestFn{
		"go":      goGuest("headers"),
		"c-0.2.1": cGuest("headers", ""),
		"c-0.1.0": cGuest("headers", "abi010"),
		"as":      func(t testing.TB) wasmtest.Guest { return wasmtest.AS(t, "headers") },
		"rust":    func(t testing.TB) wasmtest.Guest { return wasmtest.Rust(t, "headers") },
	} {
		t.Run(name, func(t *testing.T) {
			p, _ := load(t, testEngine, g(t), func(e *extconfig.Extension) {
				e.Wasm.PluginConfig = []byte("plugin-cfg")
				e.Wasm.VMConfig = []byte("vm-cfg")
			})
			o := drive(t, p, request{
				path:     "/p?q=1",
				headers:  []string{"x-req-replace", "old", "x-req-remove", "gone", "x-req-echo", "echo"},
				upstream: []string{"x-resp-replace", "old", "x-resp-remove", "gone"},
			})
			if o.reply != nil {
				t.Fatalf("unexpected local reply %+v; logs %v", o.reply, o.s.Logs)
			}
			for k, want := range map[string]string{"x-req-added": "guest", "x-req-replace": "replaced", "x-req-remove": "", "x-req-echoed": "echo"} {
				if got := header(o.upstreamReq, k); got != want {
					t.Errorf("upstream %s = %q, want %q", k, got, want)
				}
			}
			want := map[string]string{
				"x-resp-added": "guest", "x-resp-replace": "replaced", "x-resp-remove": "",
				"x-prop-path": "/p?q=1", "x-prop-method": "GET", "x-prop-plugin-name": "ns.wasmtest",
				"x-prop-root-id": "root", "x-prop-header": "echo", "x-plugin-config": "plugin-cfg",
			}
			if name == "go" {
				want["x-vm-config"] = "vm-cfg"
				want["x-prop-source"] = "127.0.0.1"
			}
			for k, w := range want {
				if got := header(o.respH, k); got != w {
					t.Errorf("response %s = %q, want %q", k, got, w)
				}
			}
		})
	}
}

func TestEngine_CGuestBlocks(t *testing.T) {
	p, _ := load(t, testEngine, wasmtest.C(t, "headers", ""), nil)
	o := drive(t, p, request{headers: []string{"x-block", "1"}})
	if o.reply == nil || o.reply.Status != 403 || o.reply.Details != "c_plugin_block" || string(o.reply.Body) != "blocked by the C guest\n" {
		t.Fatalf("reply = %+v", o.reply)
	}
	if len(o.reply.Headers) != 1 || o.reply.Headers[0] != (core.Header{Key: "x-blocked-by", Value: "c-abi"}) {
		t.Fatalf("reply headers = %+v", o.reply.Headers)
	}
}

// langConfig is a guest of one language and how its plugin configuration is spelled.
type langConfig struct {
	lang   string
	guest  guestFn
	prefix string
}

var rustScenarios = langConfig{"rust", func(t testing.TB) wasmtest.Guest { return wasmtest.Rust(t, "scenarios") }, ""}

func TestEngine_Body(t *testing.T) {
	for _, lc := range []langConfig{{"go", goGuest("body"), ""}, {"rust", rustScenarios.guest, "body|"}} {
		t.Run(lc.lang, func(t *testing.T) { testBody(t, lc) })
	}
}

func testBody(t *testing.T, lc langConfig) {
	g := lc.guest(t)
	tests := []struct{ cfg, req, resp string }{
		{"append:buffered", "hello+req-appended", "world+resp-appended"},
		{"prepend:buffered", "req-prepended+hello", "resp-prepended+world"},
		{"replace:buffered", "req-replaced(HELLO)", "resp-replaced(WORLD)"},
		{"append:streaming", "hello+req-appended", "world+resp-appended"},
		{"prepend:streaming", "req-prepended+hello", "resp-prepended+world"},
		{"replace:streaming", "HELLO", "WORLD"},
	}
	for _, tc := range tests {
		t.Run(tc.cfg, func(t *testing.T) {
			p, _ := load(t, testEngine, g, withConfig(lc.prefix+tc.cfg))
			o := drive(t, p, request{method: "POST", body: "hello", respBody: "world"})
			if o.upstreamBody != tc.req || o.respBody != tc.resp {
				t.Fatalf("bodies: upstream %q response %q, want %q %q (statuses %v)", o.upstreamBody, o.respBody, tc.req, tc.resp, o.statuses)
			}
		})
	}
}

func TestEngine_JSONValidation(t *testing.T) {
	for _, lc := range []langConfig{{"go", goGuest("jsonvalidate"), ""}, {"rust", rustScenarios.guest, "json|"}} {
		t.Run(lc.lang, func(t *testing.T) { testJSON(t, lc) })
	}
}

func testJSON(t *testing.T, lc langConfig) {
	p, _ := load(t, testEngine, lc.guest(t), withConfig(lc.prefix+"id,name"))
	ct := []string{"content-type", "application/json"}
	tests := []struct {
		name, body string
		headers    []string
		status     int
	}{
		{"valid", `{"id":1,"name":"x"}`, ct, 200},
		{"missing key", `{"id":1}`, ct, 403},
		{"not json", `{`, ct, 403},
		{"wrong content type", `{}`, []string{"content-type", "text/plain"}, 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := drive(t, p, request{method: "POST", body: tc.body, headers: tc.headers})
			if got := o.status(); got != tc.status {
				t.Fatalf("status %d, want %d (reply %+v, logs %v)", got, tc.status, o.reply, o.s.Logs)
			}
		})
	}
}

func TestEngine_LocalReply(t *testing.T) {
	p, _ := load(t, testEngine, wasmtest.Go(t, "localreply"), nil)
	o := drive(t, p, request{path: "/local"})
	if o.reply == nil || o.reply.Status != 418 || string(o.reply.Body) != "short and stout\n" {
		t.Fatalf("reply %+v", o.reply)
	}
	got := map[string]string{}
	for _, h := range o.reply.Headers {
		got[h.Key] = h.Value
	}
	if got["x-local-reply"] != "yes" || got["x-mixed-case"] != "Value" {
		t.Fatalf("reply headers %v", got)
	}
	if o := drive(t, p, request{path: "/other"}); o.reply != nil {
		t.Fatalf("unexpected reply %+v", o.reply)
	}
}

func TestEngine_Dispatch(t *testing.T) {
	g := wasmtest.Go(t, "dispatch")
	t.Run("two calls resume", func(t *testing.T) {
		p, _ := load(t, testEngine, g, withConfig("cluster=auth;calls=2"))
		var seen []string
		o := drive(t, p, request{answer: func(r core.CalloutRequest) core.CalloutResponse {
			for _, h := range r.Headers {
				if h.Key == ":path" {
					seen = append(seen, h.Value)
				}
			}
			return core.CalloutResponse{Headers: []core.Header{{Key: ":status", Value: "200"}}, Body: []byte("fine")}
		}})
		if o.reply != nil {
			t.Fatalf("reply %+v logs %v", o.reply, o.s.Logs)
		}
		if o.statuses[0] != core.StopIteration {
			t.Errorf("request headers status %v, want StopIteration", o.statuses[0])
		}
		if header(o.upstreamReq, "x-dispatch-status") != "200,200" || header(o.upstreamReq, "x-dispatch-count") != "2" {
			t.Fatalf("upstream headers %v", o.upstreamReq.Entries)
		}
		if strings.Join(seen, " ") != "/dispatch/0 /dispatch/1" {
			t.Fatalf("callouts %v", seen)
		}
	})
	t.Run("denied", func(t *testing.T) {
		p, _ := load(t, testEngine, g, withConfig("cluster=auth"))
		o := drive(t, p, request{answer: func(core.CalloutRequest) core.CalloutResponse {
			return core.CalloutResponse{Headers: []core.Header{{Key: ":status", Value: "401"}}}
		}})
		if o.status() != 403 {
			t.Fatalf("status %d reply %+v", o.status(), o.reply)
		}
	})
	t.Run("failed call", func(t *testing.T) {
		p, _ := load(t, testEngine, g, withConfig("cluster=auth"))
		o := drive(t, p, request{answer: func(core.CalloutRequest) core.CalloutResponse {
			return core.CalloutResponse{Err: os.ErrDeadlineExceeded}
		}})
		if o.status() != 503 || header(newMap(flat(o.reply.Headers)...), "x-dispatch") != "failed" {
			t.Fatalf("reply %+v", o.reply)
		}
	})
	t.Run("unknown cluster", func(t *testing.T) {
		p, _ := load(t, testEngine, g, withConfig("cluster=nope"))
		o := drive(t, p, request{})
		if o.status() != 500 {
			t.Fatalf("reply %+v", o.reply)
		}
	})
	t.Run("tick through a live stream", func(t *testing.T) {
		p, _ := load(t, testEngine, g, withConfig("cluster=auth;tick=20"))
		o := drive(t, p, request{before: func(s *fakeStream) {
			// The request is paused on its own call; a tick dispatches through it.
			deadline := time.Now().Add(2 * time.Second)
			for time.Now().Before(deadline) {
				s.Mu.Lock()
				n := len(s.Posted)
				s.Mu.Unlock()
				if n > 0 {
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
			t.Error("no tick dispatch was posted")
		}})
		if got := header(o.respH, "x-tick-last"); got != "status=200" {
			t.Fatalf("x-tick-last = %q (reply %+v)", got, o.reply)
		}
	})
}

func TestEngine_DispatchAssemblyScript(t *testing.T) {
	g := wasmtest.AS(t, "dispatch")
	p, _ := load(t, testEngine, g, withConfig("auth"))
	o := drive(t, p, request{})
	if o.reply != nil || header(o.upstreamReq, "x-dispatch-status") != "200" {
		t.Fatalf("reply %+v upstream %v logs %v", o.reply, o.upstreamReq, o.s.Logs)
	}
	o = drive(t, p, request{answer: func(core.CalloutRequest) core.CalloutResponse {
		return core.CalloutResponse{Headers: []core.Header{{Key: ":status", Value: "401"}}}
	}})
	if o.status() != 403 {
		t.Fatalf("denied: reply %+v", o.reply)
	}
}

func flat(hs []core.Header) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Key, h.Value)
	}
	return out
}

func TestEngine_SharedDataAcrossPlugins(t *testing.T) {
	for _, lc := range []langConfig{{"go", goGuest("shareddata"), ""}, {"rust", rustScenarios.guest, "shared|"}} {
		t.Run(lc.lang, func(t *testing.T) { testSharedData(t, lc) })
	}
}

func testSharedData(t *testing.T, lc langConfig) {
	g := lc.guest(t)
	// The store is engine-wide and outlives the test (-count > 1): use a fresh key.
	vmID, key := "shared-"+lc.lang, fmt.Sprintf("k%d", time.Now().UnixNano())
	p1, _ := load(t, testEngine, g, func(e *extconfig.Extension) { e.Wasm.PluginConfig = []byte(lc.prefix + key); e.Wasm.VMID = vmID })
	p2, _ := load(t, testEngine, g, func(e *extconfig.Extension) {
		e.Name += "2"
		e.Wasm.PluginConfig = []byte(lc.prefix + key)
		e.Wasm.VMID = vmID
	})
	var got []string
	for _, p := range []core.Plugin{p1, p2, p1, p2} {
		got = append(got, header(drive(t, p, request{}).respH, "x-hits"))
	}
	if strings.Join(got, ",") != "1,2,3,4" {
		t.Fatalf("x-hits %v", got)
	}
}

func TestEngine_MetricsAssemblyScript(t *testing.T) {
	p, h := load(t, testEngine, wasmtest.AS(t, "metrics"), withConfig("cfg"))
	var o outcome
	for i := 0; i < 2; i++ {
		o = drive(t, p, request{})
	}
	if header(o.respH, "x-metrics-plugin") != "as" {
		t.Fatalf("response headers %v logs %v", o.respH, o.s.Logs)
	}
	mt := p.(*plugin).g.metrics.get(1)
	if mt == nil || mt.value.Load() != 2 {
		t.Fatalf("engine-side counter %+v", mt)
	}
	if id := h.ID("wasmtest_as_requests_total"); id == 0 || o.s.Counters[id] != 1 {
		t.Fatalf("counter not emitted: %v %v", h.Names, o.s.Counters)
	}
}

func TestEngine_Metrics(t *testing.T) {
	p, h := load(t, testEngine, wasmtest.Go(t, "metrics"), nil)
	var o outcome
	for i := 0; i < 3; i++ {
		o = drive(t, p, request{})
	}
	if header(o.respH, "x-counter") != "3" {
		t.Fatalf("x-counter %q", header(o.respH, "x-counter"))
	}
	id := h.ID("wasmtest_requests_total")
	if id == 0 || o.s.Counters[id] != 1 {
		t.Fatalf("counter not emitted as an Envoy stat: names %v counters %v", h.Names, o.s.Counters)
	}
	if h.ID("wasmtest_inflight") == 0 || h.ID("wasmtest_header_count") == 0 {
		t.Fatalf("metrics defined: %v", h.Names)
	}
}

func TestEngine_RefusedConfiguration(t *testing.T) {
	g := wasmtest.Go(t, "refuse")
	for name, mod := range map[string]func(*extconfig.Extension){
		"plugin": withConfig("refuse"),
		"vm":     func(e *extconfig.Extension) { e.Wasm.VMConfig = []byte("refuse") },
	} {
		t.Run(name, func(t *testing.T) {
			ext := &extconfig.Extension{Schema: 1, Name: "x", Wasm: &extconfig.Wasm{Path: g.Path, SHA256: g.SHA256}}
			mod(ext)
			if _, err := testEngine.Load(ext, &fakeHost{}); err == nil || !strings.Contains(err.Error(), "refused") {
				t.Fatalf("Load error = %v, want a refusal", err)
			}
		})
	}
	for name, g := range map[string]guestFn{"c": cGuest("headers", ""), "rust": func(t testing.TB) wasmtest.Guest { return wasmtest.Rust(t, "headers") }} {
		t.Run(name, func(t *testing.T) {
			gg := g(t)
			ext := &extconfig.Extension{Schema: 1, Name: "x", Wasm: &extconfig.Wasm{Path: gg.Path, SHA256: gg.SHA256, PluginConfig: []byte("refuse")}}
			if _, err := testEngine.Load(ext, &fakeHost{}); err == nil || !strings.Contains(err.Error(), "refused") {
				t.Fatalf("Load error = %v, want a refusal", err)
			}
		})
	}
	p, _ := load(t, testEngine, g, withConfig("fine"))
	if got := header(drive(t, p, request{}).respH, "x-config"); got != "fine" {
		t.Fatalf("x-config %q", got)
	}
	ext := &extconfig.Extension{Schema: 1, Name: "x", Wasm: &extconfig.Wasm{Path: g.Path, SHA256: strings.Repeat("0", 64)}}
	if _, err := testEngine.Load(ext, &fakeHost{}); err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("Load with a wrong digest: %v", err)
	}
}

func TestEngine_TrapFreshVM(t *testing.T) {
	g := wasmtest.C(t, "fault", "")
	for _, strategy := range []extconfig.FailStrategy{extconfig.FailClose, extconfig.FailOpen} {
		t.Run(string(strategy), func(t *testing.T) {
			p, _ := load(t, testEngine, g, func(e *extconfig.Extension) { e.FailStrategy = strategy })
			if got := header(drive(t, p, request{}).respH, "x-vm-requests"); got != "1" {
				t.Fatalf("first request x-vm-requests %q", got)
			}
			if got := header(drive(t, p, request{}).respH, "x-vm-requests"); got != "2" {
				t.Fatalf("second request x-vm-requests %q", got)
			}
			o := drive(t, p, request{headers: []string{"x-fault", "trap"}})
			if strategy == extconfig.FailClose {
				if o.reply == nil || o.reply.Status != 503 || o.reply.Details != "wasm_fail_stream" {
					t.Fatalf("trap reply %+v", o.reply)
				}
			} else if o.reply != nil || o.statuses[0] != core.Continue {
				t.Fatalf("fail-open trap: reply %+v statuses %v", o.reply, o.statuses)
			}
			if got := header(drive(t, p, request{}).respH, "x-vm-requests"); got != "1" {
				t.Fatalf("after the trap x-vm-requests %q, want 1 (a fresh VM)", got)
			}
		})
	}
}

// TestEngine_RunawayBounded: an infinite loop, and a loop-free exponential recursion (2^40
// calls, stopped by the check at function entry), fail their stream within the bound, and the
// next stream gets a fresh VM.
func TestEngine_RunawayBounded(t *testing.T) {
	for _, fault := range []string{"loop", "recurse"} {
		t.Run(fault, func(t *testing.T) {
			e := New(Options{CacheDir: cacheDirForTests(), CallTimeout: 200 * time.Millisecond, MaxVMsPerPlugin: 1})
			p, _ := load(t, e, wasmtest.C(t, "fault", ""), nil)
			start := time.Now()
			o := drive(t, p, request{headers: []string{"x-fault", fault}})
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("the %s ran %v", fault, d)
			}
			if o.reply == nil || o.reply.Status != 503 {
				t.Fatalf("reply %+v", o.reply)
			}
			if got := header(drive(t, p, request{}).respH, "x-vm-requests"); got != "1" {
				t.Fatalf("after the %s x-vm-requests %q, want 1 (a fresh VM)", fault, got)
			}
		})
	}
}

func TestEngine_SharedQueue(t *testing.T) {
	for _, lc := range []langConfig{{"go", goGuest("queue"), ""}, {"rust", rustScenarios.guest, "queue|"}} {
		t.Run(lc.lang, func(t *testing.T) { testQueue(t, lc) })
	}
}

func testQueue(t *testing.T, lc langConfig) {
	g := lc.guest(t)
	q := fmt.Sprintf("q-%s-%d", lc.lang, time.Now().UnixNano())
	load(t, testEngine, g, func(e *extconfig.Extension) {
		e.Name += "consumer"
		e.Wasm.PluginConfig = []byte(lc.prefix + "consumer:" + q)
	})
	prod, _ := load(t, testEngine, g, withConfig(lc.prefix+"producer:"+q))
	drive(t, prod, request{path: "/first"})
	deadline := time.Now().Add(3 * time.Second)
	for {
		got := header(drive(t, prod, request{path: "/again"}).respH, "x-queue-last")
		if strings.HasPrefix(got, "/") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the consumer never recorded a queue item")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEngine_CorazaWAF(t *testing.T) {
	if testing.Short() {
		t.Skip("the WAF guest is a 31 MB module (seconds to build and compile)")
	}
	start := time.Now()
	p, h := load(t, testEngine, wasmtest.WAF(t), nil)
	t.Logf("WAF loaded (build, compile, CRS load) in %v", time.Since(start))
	tests := []struct {
		name, path, body string
		status           int
	}{
		{"clean", "/hello?name=world", "", 200},
		{"xss", "/?q=%3Cscript%3Ealert(1)%3C/script%3E", "", 403},
		{"sqli", "/?id=1%27%20OR%20%271%27=%271", "", 403},
		{"clean post", "/form", "name=alice", 200},
		{"sqli in body", "/form", "id=1' UNION SELECT password FROM users--", 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := request{path: tc.path}
			if tc.body != "" {
				r.method, r.body = "POST", tc.body
				r.headers = []string{"content-type", "application/x-www-form-urlencoded"}
			}
			o := drive(t, p, r)
			if got := o.status(); got != tc.status {
				t.Fatalf("status %d, want %d (reply %+v)", got, tc.status, o.reply)
			}
		})
	}
	if h.ID("waf_requests_total") == 0 {
		t.Errorf("waf_requests_total not defined: %v", h.Names)
	}
}

// TestEngine_ConcurrentStreams drives streams from many goroutines (Envoy workers) through one
// plugin: the VM pool grows under contention and every stream keeps its VM.
func TestEngine_ConcurrentStreams(t *testing.T) {
	e := New(Options{CacheDir: cacheDirForTests(), MaxVMsPerPlugin: 3})
	p, _ := load(t, e, wasmtest.Go(t, "shareddata"), func(x *extconfig.Extension) {
		x.Wasm.PluginConfig = []byte("concurrent")
		x.Wasm.VMID = "concurrent"
	})
	const workers, each = 6, 40
	errs := make(chan string, workers*each)
	done := make(chan struct{})
	for w := 0; w < workers; w++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < each; i++ {
				o := drive(t, p, request{})
				if o.reply != nil || header(o.respH, "x-hits") == "" {
					errs <- fmt.Sprintf("reply %+v hits %q", o.reply, header(o.respH, "x-hits"))
				}
			}
		}()
	}
	for w := 0; w < workers; w++ {
		<-done
	}
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	pl := p.(*plugin)
	n := len(pl.g.snapshot())
	if n < 1 || n > 3 {
		t.Fatalf("%d VMs, want 1..3", n)
	}
	// Every increment happened exactly once across VMs (shared data is engine-wide, CAS).
	o := drive(t, p, request{})
	if got := header(o.respH, "x-hits"); got != fmt.Sprint(workers*each+1) {
		t.Fatalf("x-hits %s, want %d", got, workers*each+1)
	}
	t.Logf("%d VMs served %d streams", n, workers*each+1)
}

// TestEngine_ProxyDone: when a plugin goes away its root context gets proxy_on_done; a root
// that returns false lives on until it calls proxy_done (OK once, then NOT_FOUND), after which
// proxy_on_delete runs and the VM and the compiled module are released. proxy_done is
// NOT_FOUND while nothing is pending (in a stream, inside proxy_on_done).
func TestEngine_ProxyDone(t *testing.T) {
	g := wasmtest.C(t, "done", "")
	logged := func(h *fakeHost) []string {
		h.Mu.Lock()
		defer h.Mu.Unlock()
		var out []string
		for _, l := range h.Logs {
			if i := strings.Index(l, ": done in "); i >= 0 {
				out = append(out, l[i+2:])
			} else if strings.HasSuffix(l, ": root deleted") {
				out = append(out, "root deleted")
			}
		}
		return out
	}
	released := func(e *Engine) bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		return len(e.modules) == 0
	}
	t.Run("deferred", func(t *testing.T) {
		e := New(Options{CacheDir: cacheDirForTests(), MaxVMsPerPlugin: 1})
		p, h := load(t, e, g, nil)
		if got := header(drive(t, p, request{}).respH, "x-done-status"); got != "1" {
			t.Fatalf("proxy_done in a stream of a serving plugin: %q, want 1 (NOT_FOUND)", got)
		}
		pl := p.(*plugin)
		v := pl.g.snapshot()[0]
		p.Close()
		if !v.hasPending() || released(e) {
			t.Fatalf("after Close: pending %v, module released %v; want a pending VM", v.hasPending(), released(e))
		}
		deadline := time.Now().Add(5 * time.Second)
		for !released(e) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		want := []string{"done in on_done: 1", "done in tick: 0", "done in tick again: 1", "root deleted"}
		if got := logged(h); !slices.Equal(got, want) {
			t.Fatalf("guest log %q, want %q", got, want)
		}
		if !released(e) || v.hasPending() || !v.isClosed() {
			t.Fatalf("after proxy_done: module released %v, pending %v, VM closed %v", released(e), v.hasPending(), v.isClosed())
		}
	})
	t.Run("immediate", func(t *testing.T) {
		e := New(Options{CacheDir: cacheDirForTests(), MaxVMsPerPlugin: 1})
		p, h := load(t, e, g, withConfig("now"))
		v := p.(*plugin).g.snapshot()[0]
		p.Close()
		want := []string{"done in on_done: 1", "root deleted"}
		if got := logged(h); !slices.Equal(got, want) {
			t.Fatalf("guest log %q, want %q", got, want)
		}
		if !released(e) || !v.isClosed() {
			t.Fatalf("after Close: module released %v, VM closed %v", released(e), v.isClosed())
		}
	})
}

// TestEngine_ForeignCompress: Envoy's compress / uncompress foreign functions (zlib streams),
// a corrupt stream (SERIALIZATION_FAILURE) and an unknown function (NOT_FOUND).
func TestEngine_ForeignCompress(t *testing.T) {
	p, _ := load(t, testEngine, wasmtest.C(t, "headers", ""), nil)
	o := drive(t, p, request{headers: []string{"x-foreign", "some text, some text, some text"}})
	for k, want := range map[string]string{
		"x-foreign-roundtrip":      "some text, some text, some text",
		"x-foreign-zlib-header":    "yes",
		"x-foreign-const":          "hello trafficext",
		"x-foreign-bad-status":     "3",
		"x-foreign-unknown-status": "1",
	} {
		if got := header(o.respH, k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if got := header(drive(t, p, request{}).respH, "x-foreign-const"); got != "" {
		t.Errorf("x-foreign-const without x-foreign: %q", got)
	}
}

// TestEngine_ForeignVerifySignature: Envoy's verify_signature (RSA and ECDSA keys, a wrong
// text, an unsupported hash, a bad key, unparsable arguments).
func TestEngine_ForeignVerifySignature(t *testing.T) {
	p, _ := load(t, testEngine, wasmtest.C(t, "headers", ""), nil)
	// VerifySignatureResult{error: msg} serialized, hex, as the guest reports it.
	failed := func(msg string) string { return fmt.Sprintf("12%02x%x-", len(msg), msg) }
	for which, want := range map[string][2]string{
		"rsa":     {"0", "0801-"},
		"ec":      {"0", "0801-"},
		"rsa-bad": {"0", failed("Failed to verify digest. Error code: 0")},
		"md5":     {"0", failed("MD5 is not supported.")},
		"badkey":  {"0", failed("Failed to initialize digest verify.")},
		"garbage": {"2", "-"},
	} {
		o := drive(t, p, request{headers: []string{"x-verify", which}})
		if st, res := header(o.respH, "x-verify-status"), header(o.respH, "x-verify-result"); st != want[0] || res != want[1] {
			t.Errorf("%s: status %q result %q, want %q %q", which, st, res, want[0], want[1])
		}
	}
}
