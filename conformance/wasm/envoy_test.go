//go:build conformance

package wasm_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trafficext/trafficext/conformance/golanghost"
	"github.com/trafficext/trafficext/engine/wasm/wasmtest"
	"github.com/trafficext/trafficext/extconfig"
	"github.com/trafficext/trafficext/internal/envoyproc"
	"github.com/trafficext/trafficext/xds/translate"
)

// These tests run the Proxy-Wasm guests through a real Envoy 1.36.2: every scenario gets two
// listeners in one Envoy, one whose chain runs the guests on our host (the trafficext dynamic
// module, out/libtrafficext.so from `make module`) and one on Envoy's own V8 Wasm filter.
// Every request goes to both and the HTTP results must be identical (the differential); the
// scenario's own expectations are checked on our host's answer.

// plug is one Wasm filter of a chain.
type plug struct {
	guest        wasmtest.Guest
	pluginConfig string
	vmConfig     string
	vmID         string
	fail         extconfig.FailStrategy
	// gateway is the callout gateway address given to our host ("": none).
	gateway string
}

type req struct {
	method, path string
	headers      []string
	body         string
	// mayReset: the stream may be reset (resp.Err says how) instead of failing the test.
	mayReset bool
}

type resp struct {
	Status  int
	Headers map[string]string
	Body    string
	// Err is how the exchange broke: "no response" (reset before a response) or "body
	// truncated" (reset after the headers); empty when it completed.
	Err string
}

type scenario struct {
	name     string
	plugins  []plug
	requests []req
	// check verifies our host's answer to request i.
	check func(t *testing.T, i int, r resp)
	// noDiff skips the differential for a request (documented reasons only).
	noDiff func(i int) bool
}

type listener struct {
	port  int
	kind  string // "trafficext" or "v8"
	sc    *scenario
	index int
}

// freePort returns a port no other call of this test process got (ports are held until the
// test ends, then released for Envoy).
// queueRequests are the requests of the shared-queue scenarios.
var queueRequests = func() []req {
	out := make([]req, 16)
	for i := range out {
		out[i] = req{path: fmt.Sprintf("/item-%d", i)}
	}
	return out
}()

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held = append(held, l)
	return l.Addr().(*net.TCPAddr).Port
}

var held []net.Listener

func releasePorts() {
	for _, l := range held {
		l.Close()
	}
	held = nil
}

func extName(sc *scenario, i int) string {
	return fmt.Sprintf("extensions.istio.io/trafficextension/ns.%s-%d", sc.name, i)
}

func stringValue(s string) map[string]any {
	return map[string]any{"@type": "type.googleapis.com/google.protobuf.StringValue", "value": s}
}

// ourFilter is the dynamic-module filter running p on our host.
func ourFilter(t testing.TB, name string, p plug) map[string]any {
	ext := extconfig.Extension{Name: name, FailStrategy: p.fail, CalloutGateway: p.gateway, Wasm: &extconfig.Wasm{
		Path: p.guest.Path, SHA256: p.guest.SHA256, PluginName: "root", VMID: p.vmID,
		PluginConfig: []byte(p.pluginConfig), VMConfig: []byte(p.vmConfig),
	}}
	if golangBinding() && ext.CalloutGateway == "" {
		// The golang binding has no HTTP client of Envoy's: its calls go through a gateway.
		ext.CalloutGateway = "unix:" + golangGatewaySocket
	}
	raw, err := extconfig.Marshal(&ext)
	if err != nil {
		t.Fatal(err)
	}
	if golangBinding() {
		// The golang-filter library under the golang host instead of the dynamic module.
		lib, err := envoyproc.GolangLibrary()
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := golanghost.Filter(lib, raw)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	return map[string]any{
		"@type":                 "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter",
		"dynamic_module_config": map[string]any{"name": "trafficext", "do_not_close": true},
		"filter_name":           "trafficext",
		"filter_config":         stringValue(string(raw)),
	}
}

// golangBinding: CONF_WASM_BINDING=golang runs our side through the golang-filter library.
func golangBinding() bool { return os.Getenv("CONF_WASM_BINDING") == "golang" }

func hasListener(listeners []any, name string) bool {
	for _, l := range listeners {
		if m, ok := l.(map[string]any); ok && m["name"] == name {
			return true
		}
	}
	return false
}

// golangGatewaySocket is the callout gateway of every bootstrap under the golang binding, for
// plugins that name none (one Envoy at a time per test process).
var golangGatewaySocket = fmt.Sprintf("@trafficext-callout-wasm-%d", os.Getpid())

// v8Filter is Envoy's native Wasm filter running p on V8.
func v8Filter(name string, p plug) map[string]any {
	short := name[strings.LastIndexByte(name, '/')+1:]
	return map[string]any{
		"@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
		"config": map[string]any{
			"name": short, "root_id": "root", "fail_open": p.fail == extconfig.FailOpen,
			"configuration": stringValue(p.pluginConfig),
			"vm_config": map[string]any{
				"vm_id": p.vmID, "runtime": "envoy.wasm.runtime.v8",
				"code":          map[string]any{"local": map[string]any{"filename": p.guest.Path}},
				"configuration": stringValue(p.vmConfig),
			},
		},
	}
}

func addr(port int) map[string]any {
	return map[string]any{"socket_address": map[string]any{"address": "127.0.0.1", "port_value": port}}
}

func hcm(name string, filters []any) map[string]any {
	return map[string]any{
		"name": "envoy.filters.network.http_connection_manager",
		"typed_config": map[string]any{
			"@type":       "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
			"stat_prefix": name,
			"route_config": map[string]any{"virtual_hosts": []any{map[string]any{
				"name": "all", "domains": []any{"*"},
				"routes": []any{map[string]any{"match": map[string]any{"prefix": "/"},
					"route": map[string]any{"cluster": "upstream", "timeout": "10s"}}},
			}}},
			"http_filters": append(filters, map[string]any{"name": "envoy.filters.http.router", "typed_config": map[string]any{
				"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}),
		},
	}
}

func bootstrap(t testing.TB, listeners []any, adminPort, upstreamPort int) string {
	if golangBinding() && !hasListener(listeners, translate.CalloutGatewayListenerName) {
		// A test with a gateway of its own keeps only that one (listener names are unique).
		listeners = append(listeners, calloutGatewayListener(t, golangGatewaySocket))
	}
	cluster := func(name string) map[string]any {
		return map[string]any{
			"name": name, "type": "STATIC", "connect_timeout": "1s",
			"load_assignment": map[string]any{"cluster_name": name, "endpoints": []any{map[string]any{
				"lb_endpoints": []any{map[string]any{"endpoint": map[string]any{"address": addr(upstreamPort)}}}}}},
		}
	}
	b := map[string]any{
		"node":  map[string]any{"id": "wasm-test", "cluster": "wasm-test"},
		"admin": map[string]any{"address": addr(adminPort)},
		"static_resources": map[string]any{
			"listeners": listeners,
			"clusters":  []any{cluster("upstream"), cluster("auth")},
		},
	}
	out, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// upstream echoes what it received: the method, path, x-* request headers (sorted) and body;
// it answers /dispatch/* and /tick with 200 "fine" and sleeps on /slow.
func upstream(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case strings.HasPrefix(r.URL.Path, "/dispatch/"), r.URL.Path == "/tick":
			io.WriteString(w, "fine")
			return
		case r.URL.Path == "/slow":
			time.Sleep(400 * time.Millisecond)
		}
		var lines []string
		for k, vs := range r.Header {
			k = strings.ToLower(k)
			if (strings.HasPrefix(k, "x-") && !strings.HasPrefix(k, "x-envoy") && k != "x-request-id" && k != "x-forwarded-proto") || k == "set-cookie" {
				line := k + ": " + strings.Join(vs, ",")
				if len(vs) > 1 {
					// Separate header lines are not the same as one comma-joined value.
					line += fmt.Sprintf(" (%d entries)", len(vs))
				}
				lines = append(lines, line)
			}
		}
		sort.Strings(lines)
		w.Header().Set("x-resp-replace", "old")
		w.Header().Set("x-resp-remove", "gone")
		w.Header().Set("content-type", "text/plain")
		fmt.Fprintf(w, "%s %s\n%s\n%s", r.Method, r.URL.RequestURI(), strings.Join(lines, "\n"), body)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

func do(t testing.TB, port int, r req) resp {
	t.Helper()
	if r.method == "" {
		r.method = "GET"
	}
	if r.path == "" {
		r.path = "/"
	}
	hr, err := http.NewRequest(r.method, fmt.Sprintf("http://127.0.0.1:%d%s", port, r.path), strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	hr.Host = "wasm.test"
	for i := 0; i+1 < len(r.headers); i += 2 {
		hr.Header.Add(r.headers[i], r.headers[i+1])
	}
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := client.Do(hr)
	if err != nil {
		if r.mayReset {
			return resp{Err: "no response"}
		}
		t.Fatalf("request to :%d: %v", port, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	out := resp{Status: res.StatusCode, Headers: map[string]string{}, Body: string(b)}
	if err != nil {
		if !r.mayReset {
			t.Fatalf("request to :%d: reading the body: %v", port, err)
		}
		out.Err, out.Body = "body truncated", ""
	}
	for k, vs := range res.Header {
		k = strings.ToLower(k)
		if (strings.HasPrefix(k, "x-") && !strings.HasPrefix(k, "x-envoy")) || k == "content-type" || k == "content-length" || k == "set-cookie" {
			out.Headers[k] = strings.Join(vs, ",")
			if len(vs) > 1 {
				out.Headers[k+"#entries"] = strconv.Itoa(len(vs))
			}
		}
	}
	return out
}

func requireEnvoy(t *testing.T) {
	if _, err := envoyproc.FindBinary(); err != nil {
		t.Skip(err)
	}
	if _, err := envoyproc.ModuleDir(); err != nil {
		t.Skip(err)
	}
}

func startEnvoy(t *testing.T, boot string, adminPort, concurrency int) *envoyproc.Process {
	return startEnvoyWithin(t, boot, adminPort, concurrency, 60*time.Second)
}

func startEnvoyWithin(t *testing.T, boot string, adminPort, concurrency int, limit time.Duration) *envoyproc.Process {
	releasePorts()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	p, err := envoyproc.Start(ctx, envoyproc.Options{Bootstrap: boot, AdminPort: adminPort, Concurrency: concurrency, LogLevel: "warning"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("envoy log:\n%s", p.Log())
		}
		p.Stop()
	})
	return p
}

func scenarios(t *testing.T) []*scenario {
	goG := func(n string) wasmtest.Guest { return wasmtest.Go(t, n) }
	expectHeaders := func(want map[string]string) func(*testing.T, int, resp) {
		return func(t *testing.T, _ int, r resp) {
			for k, v := range want {
				if r.Headers[k] != v {
					t.Errorf("%s = %q, want %q", k, r.Headers[k], v)
				}
			}
		}
	}
	headerReq := req{path: "/p?q=1", headers: []string{"x-req-replace", "old", "x-req-remove", "gone", "x-req-echo", "echo"}}
	headerCheck := func(t *testing.T, i int, r resp) {
		expectHeaders(map[string]string{"x-resp-added": "guest", "x-resp-replace": "replaced", "x-resp-remove": "",
			"x-prop-path": "/p?q=1", "x-prop-method": "GET", "x-prop-root-id": "root", "x-prop-header": "echo", "x-plugin-config": "cfg"})(t, i, r)
		for _, l := range []string{"x-req-added: guest", "x-req-replace: replaced", "x-req-echoed: echo"} {
			if !strings.Contains(r.Body, l) {
				t.Errorf("upstream did not see %q:\n%s", l, r.Body)
			}
		}
		if strings.Contains(r.Body, "x-req-remove") {
			t.Errorf("upstream saw x-req-remove:\n%s", r.Body)
		}
		if !strings.HasPrefix(r.Headers["x-prop-plugin-name"], "ns.") {
			t.Errorf("plugin_name %q", r.Headers["x-prop-plugin-name"])
		}
	}
	var out []*scenario
	for _, g := range []struct {
		lang string
		g    wasmtest.Guest
	}{{"go", goG("headers")}, {"c", wasmtest.C(t, "headers", "")}, {"c010", wasmtest.C(t, "headers", "abi010")}, {"as", wasmtest.AS(t, "headers")}, {"rust", wasmtest.Rust(t, "headers")}} {
		out = append(out, &scenario{name: "headers-" + g.lang, plugins: []plug{{guest: g.g, pluginConfig: "cfg", vmConfig: "vmcfg"}},
			requests: []req{headerReq}, check: headerCheck})
	}
	rust := wasmtest.Rust(t, "scenarios")
	type lg struct {
		lang   string
		g      wasmtest.Guest
		prefix string
	}
	for _, l := range []lg{{"go", goG("body"), ""}, {"rust", rust, "body|"}} {
		for _, mode := range []string{"append", "prepend", "replace"} {
			for _, how := range []string{"buffered", "streaming"} {
				cfg := mode + ":" + how
				want := map[string]string{
					"append:buffered": "+req-appended", "prepend:buffered": "req-prepended+", "replace:buffered": "req-replaced(",
					"append:streaming": "+req-appended", "prepend:streaming": "req-prepended+", "replace:streaming": "HELLO",
				}[cfg]
				out = append(out, &scenario{name: "body-" + l.lang + "-" + mode + "-" + how, plugins: []plug{{guest: l.g, pluginConfig: l.prefix + cfg}},
					requests: []req{{method: "POST", body: "hello"}},
					check: func(t *testing.T, _ int, r resp) {
						if !strings.Contains(strings.ToUpper(r.Body), strings.ToUpper(want)) || !strings.Contains(strings.ToUpper(r.Body), "RESP-") && how == "buffered" {
							t.Errorf("body %q lacks %q", r.Body, want)
						}
					}})
			}
		}
	}
	ct := []string{"content-type", "application/json"}
	for _, l := range []lg{{"go", goG("jsonvalidate"), ""}, {"rust", rust, "json|"}} {
		out = append(out, &scenario{name: "json-" + l.lang, plugins: []plug{{guest: l.g, pluginConfig: l.prefix + "id,name"}},
			requests: []req{{method: "POST", body: `{"id":1,"name":"x"}`, headers: ct}, {method: "POST", body: `{"id":1}`, headers: ct}, {method: "POST", body: "{", headers: ct}},
			check: func(t *testing.T, i int, r resp) {
				if want := []int{200, 403, 403}[i]; r.Status != want {
					t.Errorf("status %d, want %d", r.Status, want)
				}
			}})
	}
	// proxy_get_header_map_pairs: the guest hashes every request header (names, values and
	// their order) and answers 200 or 500 by the hash's parity, so the differential compares
	// the serialized map with V8's. x-request-id is fixed, as Envoy would otherwise make a
	// random one per listener.
	parityReqs := make([]req, 6)
	for i := range parityReqs {
		parityReqs[i] = req{path: fmt.Sprintf("/parity/%d", i), headers: []string{"x-request-id", fmt.Sprintf("id-%d", i), "x-n", strings.Repeat("n", i), "x-dup", "a", "x-dup", "b"}}
	}
	out = append(out, &scenario{name: "pairs-hashparity-go", plugins: []plug{{guest: goG("hashparity")}}, requests: parityReqs,
		check: func(t *testing.T, i int, r resp) {
			if r.Status != 200 && r.Status != 500 {
				t.Errorf("status %d, want 200 or 500", r.Status)
			}
		}})
	out = append(out, &scenario{name: "localreply-go", plugins: []plug{{guest: goG("localreply")}},
		requests: []req{{path: "/local"}, {path: "/other"}},
		check: func(t *testing.T, i int, r resp) {
			if i == 0 {
				if r.Status != 418 || r.Headers["x-local-reply"] != "yes" || r.Headers["x-mixed-case"] != "Value" || r.Body != "short and stout\n" {
					t.Errorf("local reply %+v", r)
				}
			} else if r.Status != 200 {
				t.Errorf("status %d", r.Status)
			}
		}})
	// Envoy's compress/uncompress foreign functions; the differential compares every x-*
	// header with V8's (the roundtrip, C zlib's stream uncompressed, the error statuses).
	out = append(out, &scenario{name: "foreign-compress-c", plugins: []plug{{guest: wasmtest.C(t, "headers", ""), pluginConfig: "cfg"}},
		requests: []req{{headers: []string{"x-foreign", "some text, some text, some text"}}},
		check: expectHeaders(map[string]string{"x-foreign-roundtrip": "some text, some text, some text", "x-foreign-zlib-header": "yes",
			"x-foreign-const": "hello trafficext", "x-foreign-bad-status": "3", "x-foreign-unknown-status": "1"})})
	// verify_signature: the serialized VerifySignatureResult (hex) and the status must equal V8's.
	verifyWant := map[string]string{"rsa": "0801-", "ec": "0801-", "rsa-bad": "12", "md5": "12", "badkey": "12", "garbage": "-"}
	verifyReqs := []req{}
	verifyOrder := []string{"rsa", "ec", "rsa-bad", "md5", "badkey", "garbage"}
	for _, w := range verifyOrder {
		verifyReqs = append(verifyReqs, req{headers: []string{"x-verify", w}})
	}
	out = append(out, &scenario{name: "foreign-verify-signature-c", plugins: []plug{{guest: wasmtest.C(t, "headers", ""), pluginConfig: "cfg"}},
		requests: verifyReqs,
		check: func(t *testing.T, i int, r resp) {
			w := verifyOrder[i]
			if got := r.Headers["x-verify-result"]; !strings.HasPrefix(got, verifyWant[w]) {
				t.Errorf("%s: x-verify-result %q, want prefix %q", w, got, verifyWant[w])
			}
		}})
	out = append(out, &scenario{name: "localreply-c", plugins: []plug{{guest: wasmtest.C(t, "headers", ""), pluginConfig: "cfg"}},
		requests: []req{{headers: []string{"x-block", "1"}}},
		check: func(t *testing.T, _ int, r resp) {
			if r.Status != 403 || r.Headers["x-blocked-by"] != "c-abi" || r.Body != "blocked by the C guest\n" {
				t.Errorf("local reply %+v", r)
			}
		},
		// Envoy's dynamic-modules filter does not run the module's response callbacks for
		// its own local reply (sent_local_reply_ in filter.cc); V8 runs the plugin's
		// on_response_headers on it. Documented in docs/wasm-compatibility.md.
		noDiff: func(int) bool { return true }})
	// proxy_add_header_map_value appends an entry (V8: addCopy), from one plugin and from two:
	// the upstream and the client see separate header lines, set-cookie included.
	out = append(out, &scenario{name: "add-entries-c", plugins: []plug{{guest: wasmtest.C(t, "headers", ""), pluginConfig: "cfg"}},
		requests: []req{{headers: []string{"x-add-twice", "1", "x-twice", "client"}}},
		check: func(t *testing.T, _ int, r resp) {
			for _, l := range []string{"x-twice: client,guest (2 entries)", "set-cookie: a=1,b=2; Path=/ (2 entries)"} {
				if !strings.Contains(r.Body, l) {
					t.Errorf("upstream did not see %q:\n%s", l, r.Body)
				}
			}
			if r.Headers["x-resp-added#entries"] != "2" || r.Headers["set-cookie#entries"] != "2" {
				t.Errorf("response entries: %v", r.Headers)
			}
		}})
	out = append(out, &scenario{name: "add-entries-two-plugins-c", plugins: []plug{
		// Separate VMs (vm ids) on both hosts: the guest keeps request-time values in globals.
		{guest: wasmtest.C(t, "headers", ""), pluginConfig: "cfg", vmID: "one"}, {guest: wasmtest.C(t, "headers", ""), pluginConfig: "cfg", vmID: "two"}},
		requests: []req{{}},
		check: func(t *testing.T, _ int, r resp) {
			if !strings.Contains(r.Body, "x-req-added: guest,guest (2 entries)") {
				t.Errorf("upstream did not see two x-req-added entries:\n%s", r.Body)
			}
			if r.Headers["x-resp-added#entries"] != "2" {
				t.Errorf("response entries: %v", r.Headers)
			}
		}})
	// proxy_close_stream resets the stream on both hosts, before or after the response started
	// (the dynamic module resets through the 1.39 ABI's reset_stream).
	closeModes := []string{"response-body", "request", "response-headers"}
	closeReqs := []req{}
	for _, m := range closeModes {
		closeReqs = append(closeReqs, req{path: "/close", headers: []string{"x-close", m}, mayReset: true})
	}
	out = append(out, &scenario{name: "close-stream-c", plugins: []plug{{guest: wasmtest.C(t, "headers", ""), pluginConfig: "cfg"}},
		requests: closeReqs,
		check: func(t *testing.T, i int, r resp) {
			if r.Err == "" {
				t.Errorf("close in %s: %+v, want a reset", closeModes[i], r)
			}
		}})
	for _, calls := range []int{1, 3} {
		out = append(out, &scenario{name: fmt.Sprintf("dispatch-%d", calls), plugins: []plug{{guest: goG("dispatch"), pluginConfig: fmt.Sprintf("cluster=auth;calls=%d", calls)}},
			requests: []req{{path: "/x"}},
			check: func(t *testing.T, _ int, r resp) {
				want := strings.TrimSuffix(strings.Repeat("200,", calls), ",")
				if r.Status != 200 || !strings.Contains(r.Body, "x-dispatch-status: "+want) {
					t.Errorf("dispatch result %+v", r)
				}
			}})
	}
	out = append(out, &scenario{name: "dispatch-as", plugins: []plug{{guest: wasmtest.AS(t, "dispatch"), pluginConfig: "auth"}},
		requests: []req{{path: "/x"}},
		check: func(t *testing.T, _ int, r resp) {
			if r.Status != 200 || !strings.Contains(r.Body, "x-dispatch-status: 200") {
				t.Errorf("dispatch result %+v", r)
			}
		}})
	out = append(out, &scenario{name: "dispatch-unknown-cluster", plugins: []plug{{guest: goG("dispatch"), pluginConfig: "cluster=nope"}},
		requests: []req{{path: "/x"}},
		check: func(t *testing.T, _ int, r resp) {
			if r.Status != 500 {
				t.Errorf("status %d", r.Status)
			}
		}})
	out = append(out, &scenario{name: "tick-dispatch", plugins: []plug{{guest: goG("dispatch"), pluginConfig: "cluster=auth;tick=50"}},
		requests: []req{{path: "/nodispatch/slow-but-not-slow"}, {path: "/nodispatch"}},
		check: func(t *testing.T, i int, r resp) {
			if i == 1 && r.Headers["x-tick-last"] != "status=200" {
				t.Errorf("x-tick-last = %q", r.Headers["x-tick-last"])
			}
		},
		noDiff: func(int) bool { return true }})
	// The C twin of the Go dispatch guest: several dispatches in one request, a dispatch from
	// a tick and the VM configuration read in proxy_on_vm_start.
	cDispatch := wasmtest.C(t, "dispatch", "")
	out = append(out, &scenario{name: "dispatch-3-c", plugins: []plug{{guest: cDispatch, pluginConfig: "cluster=auth;calls=3"}},
		requests: []req{{path: "/x"}},
		check: func(t *testing.T, _ int, r resp) {
			for _, l := range []string{"x-dispatch-status: 200,200,200", "x-dispatch-count: 3", "x-dispatch-body: fine,fine,fine"} {
				if r.Status != 200 || !strings.Contains(r.Body, l) {
					t.Errorf("dispatch result lacks %q: %+v", l, r)
				}
			}
		}})
	out = append(out, &scenario{name: "dispatch-unknown-cluster-c", plugins: []plug{{guest: cDispatch, pluginConfig: "cluster=nope"}},
		requests: []req{{path: "/x"}},
		check: func(t *testing.T, _ int, r resp) {
			// proxy_http_call refuses an unknown cluster with BAD_ARGUMENT (2), as Envoy.
			if r.Status != 500 || r.Headers["x-dispatch-error"] != "2" {
				t.Errorf("answer %+v, want 500 with x-dispatch-error: 2", r)
			}
		}})
	out = append(out, &scenario{name: "tick-dispatch-c", plugins: []plug{{guest: cDispatch, pluginConfig: "cluster=auth;tick=50"}},
		// /slow dispatches once and keeps a stream alive for 400 ms while ticks fire: without
		// a callout gateway our host sends a root context's call through a live stream of the
		// VM. By the second request both hosts have the tick's answer in shared data.
		requests: []req{{path: "/slow"}, {path: "/nodispatch"}},
		check: func(t *testing.T, i int, r resp) {
			if i == 1 && r.Headers["x-tick-last"] != "status=200" {
				t.Errorf("x-tick-last = %q", r.Headers["x-tick-last"])
			}
		},
		// The first answer carries x-tick-last only if a tick's call completed before it.
		noDiff: func(i int) bool { return i == 0 }})
	// Two VMs of the same code in one chain, told apart only by their VM configuration (read in
	// proxy_on_vm_start); the response passes the second plugin first.
	out = append(out, &scenario{name: "vmconfig-c", plugins: []plug{{guest: cDispatch, pluginConfig: "cluster=auth", vmConfig: "vm-a"}, {guest: cDispatch, pluginConfig: "cluster=auth;calls=2", vmConfig: "vm-b"}},
		requests: []req{{path: "/nodispatch"}, {path: "/x"}},
		check: func(t *testing.T, i int, r resp) {
			if r.Status != 200 || r.Headers["x-vm-config"] != "vm-b,vm-a" {
				t.Errorf("x-vm-config %q, want \"vm-b,vm-a\" (%+v)", r.Headers["x-vm-config"], r)
			}
			if i == 1 && !strings.Contains(r.Body, "x-dispatch-count: 1,2") {
				t.Errorf("upstream did not see both plugins' dispatches:\n%s", r.Body)
			}
		}})
	for _, l := range []lg{{"go", goG("shareddata"), ""}, {"rust", rust, "shared|"}} {
		out = append(out, &scenario{name: "shared-data-" + l.lang, plugins: []plug{{guest: l.g, pluginConfig: l.prefix + "hits", vmID: "sd-" + l.lang}, {guest: l.g, pluginConfig: l.prefix + "hits", vmID: "sd-" + l.lang}},
			requests: []req{{}, {}, {}},
			check: func(t *testing.T, i int, r resp) {
				// Two plugins in the chain increment the same key per request; the response
				// passes the second plugin first, so the first plugin's value is what remains.
				if want := fmt.Sprint(2*i + 1); r.Headers["x-hits"] != want {
					t.Errorf("x-hits %q, want %q", r.Headers["x-hits"], want)
				}
			}})
	}
	out = append(out, &scenario{name: "metrics", plugins: []plug{{guest: goG("metrics")}},
		requests: []req{{}, {}, {}},
		check: func(t *testing.T, i int, r resp) {
			if want := fmt.Sprint(i + 1); r.Headers["x-counter"] != want {
				t.Errorf("x-counter %q, want %q", r.Headers["x-counter"], want)
			}
		}})
	out = append(out, &scenario{name: "metrics-as", plugins: []plug{{guest: wasmtest.AS(t, "metrics"), pluginConfig: "cfg"}},
		requests: []req{{}, {}, {}},
		check:    expectHeaders(map[string]string{"x-metrics-plugin": "as"})})
	out = append(out, &scenario{name: "config", plugins: []plug{{guest: goG("refuse"), pluginConfig: "fine"}, {guest: goG("headers"), pluginConfig: "plugin", vmConfig: "vm"}},
		requests: []req{{}},
		check:    expectHeaders(map[string]string{"x-config": "fine", "x-plugin-config": "plugin", "x-vm-config": "vm"})})
	for _, l := range []lg{{"go", goG("queue"), ""}, {"rust", rust, "queue|"}} {
		// The consumer is woken asynchronously (proxy_on_queue_ready), and only on the VM that
		// registered the queue (as in Envoy, one registrant is notified), which serves only the
		// requests its worker accepts: require that some request by the last one saw an item.
		// With 16 requests over 2 workers the chance that none reaches that worker is 2^-15.
		seen := false
		out = append(out, &scenario{name: "queue-" + l.lang, plugins: []plug{{guest: l.g, pluginConfig: l.prefix + "consumer:q-" + l.lang}, {guest: l.g, pluginConfig: l.prefix + "producer:q-" + l.lang}},
			requests: queueRequests,
			check: func(t *testing.T, i int, r resp) {
				if strings.HasPrefix(r.Headers["x-queue-last"], "/") {
					seen = true
				}
				if i == len(queueRequests)-1 && !seen {
					t.Errorf("no request saw a queued item (last x-queue-last %q)", r.Headers["x-queue-last"])
				}
			},
			// The consumer runs asynchronously on both hosts; the exact item seen by a request
			// is a race, so only the presence is compared.
			noDiff: func(int) bool { return true }})
	}
	out = append(out, abiScenarios(t)...)
	out = append(out, vmScenarios(t)...)
	return out
}

func TestEnvoy_ScenariosAndDifferential(t *testing.T) {
	requireEnvoy(t)
	scs := scenarios(t)
	up := upstream(t)
	adminPort := freePort(t)
	var listeners []any
	type pair struct{ ours, v8 int }
	ports := map[*scenario]pair{}
	for _, sc := range scs {
		pr := pair{freePort(t), freePort(t)}
		ports[sc] = pr
		var ours, v8 []any
		for i, p := range sc.plugins {
			name := extName(sc, i)
			ours = append(ours, map[string]any{"name": name, "typed_config": ourFilter(t, name, p)})
			v8 = append(v8, map[string]any{"name": "v8-" + name, "typed_config": v8Filter(name, p)})
		}
		listeners = append(listeners,
			map[string]any{"name": sc.name + "-ours", "address": addr(pr.ours), "filter_chains": []any{map[string]any{"filters": []any{hcm(sc.name+"_ours", ours)}}}},
			map[string]any{"name": sc.name + "-v8", "address": addr(pr.v8), "filter_chains": []any{map[string]any{"filters": []any{hcm(sc.name+"_v8", v8)}}}})
	}
	p := startEnvoy(t, bootstrap(t, listeners, adminPort, up), adminPort, 2)
	for _, sc := range scs {
		t.Run(sc.name, func(t *testing.T) {
			pr := ports[sc]
			cause, known := golangDifferences[sc.name]
			known = known && golangBinding()
			differs := false
			for i, r := range sc.requests {
				if sc.name == "tick-dispatch" && i == 0 {
					// Keep a stream alive while ticks fire: our host dispatches a root
					// context's call through a live stream of the VM.
					r.path = "/slow"
					r.headers = nil
				}
				ours := do(t, pr.ours, r)
				v8 := do(t, pr.v8, r)
				if known {
					// The scenario's own expectations fail with the difference too.
					if d := diff(ours, v8); d != "" {
						differs = true
						t.Logf("request %d: known golang-binding difference (%s):\n%s", i, cause, d)
					}
					continue
				}
				sc.check(t, i, ours)
				if sc.noDiff != nil && sc.noDiff(i) {
					continue
				}
				if d := diff(ours, v8); d != "" {
					t.Errorf("request %d: our host and V8 differ:\n%s", i, d)
				}
			}
			if known && !differs {
				t.Errorf("identical to V8 under the golang binding: remove %s from golangDifferences", sc.name)
			}
		})
	}
	t.Run("metrics-in-stats", func(t *testing.T) {
		stats, err := p.Admin("/stats?filter=wasmtest")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("stats:\n%s", stats)
		for _, want := range []string{"dynamicmodulescustom.wasmtest_requests_total: 3", "wasmcustom.wasmtest_requests_total: 3",
			"dynamicmodulescustom.wasmtest_as_requests_total: 3", "wasmcustom.wasmtest_as_requests_total: 3"} {
			if !strings.Contains(stats, want) {
				t.Errorf("/stats lacks %q", want)
			}
		}
	})
}

// golangDifferences are the scenarios whose answers differ from V8's under
// CONF_WASM_BINDING=golang (docs/golang-host.md lists them with the dynamic module's status).
// They must still differ; any other difference fails.
var golangDifferences = map[string]string{
	"body-go-prepend-buffered":   "StopAndBuffer on a body chunk: the golang filter presents only the rest of the body",
	"body-go-replace-buffered":   "StopAndBuffer on a body chunk: the golang filter presents only the rest of the body",
	"body-rust-prepend-buffered": "StopAndBuffer on a body chunk: the golang filter presents only the rest of the body",
	"body-rust-replace-buffered": "StopAndBuffer on a body chunk: the golang filter presents only the rest of the body",
	"json-go":                    "StopAndBuffer on a body chunk: the golang filter presents only the rest of the body",
	"json-rust":                  "StopAndBuffer on a body chunk: the golang filter presents only the rest of the body",
	"close-stream-c":             "no stream reset in the golang API: close_stream answers 503",
	"dispatch-unknown-cluster":   "callout gateway: an unknown cluster is not refused at the call (503 answer)",
	"dispatch-unknown-cluster-c": "callout gateway: an unknown cluster is not refused at the call (503 answer)",
	"abi-envoy-filter-state-go":  "golang filter state: no typed objects, a key cannot be set twice",
	"plugin-starts-go":           "no worker count under the golang filter: no canary or main VM, the plugin starts once (V8: 4)",
}

func diff(a, b resp) string {
	var out []string
	if a.Status != b.Status {
		out = append(out, fmt.Sprintf("status %d vs %d", a.Status, b.Status))
	}
	keys := map[string]bool{}
	for k := range a.Headers {
		keys[k] = true
	}
	for k := range b.Headers {
		keys[k] = true
	}
	for k := range keys {
		if a.Headers[k] != b.Headers[k] {
			out = append(out, fmt.Sprintf("header %s: %q vs %q", k, a.Headers[k], b.Headers[k]))
		}
	}
	if a.Body != b.Body {
		out = append(out, fmt.Sprintf("body:\n%q\nvs\n%q", a.Body, b.Body))
	}
	if a.Err != b.Err {
		out = append(out, fmt.Sprintf("error %q vs %q", a.Err, b.Err))
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// TestEnvoy_FailureSemantics: a trap answers 503 (fail-closed) or passes (fail-open) and the
// next request runs on a fresh VM; an infinite loop is cut off and the worker keeps serving.
// The C guest traps with `unreachable`, the Go guest panics (proc_exit from the Go runtime).
func TestEnvoy_FailureSemantics(t *testing.T) {
	requireEnvoy(t)
	faults := []struct {
		lang  string
		guest wasmtest.Guest
	}{{"c", wasmtest.C(t, "fault", "")}, {"go", wasmtest.Go(t, "fault")}}
	up := upstream(t)
	adminPort := freePort(t)
	type tcase struct {
		name   string
		port   int
		status int
	}
	var listeners []any
	var cases []tcase
	for _, f := range faults {
		for _, fs := range []struct {
			tag    string
			fail   extconfig.FailStrategy
			status int
		}{{"closed", extconfig.FailClose, 503}, {"open", extconfig.FailOpen, 200}} {
			tag, port := f.lang+"-"+fs.tag, freePort(t)
			name := "extensions.istio.io/trafficextension/ns.fault-" + tag
			listeners = append(listeners, map[string]any{"name": tag, "address": addr(port), "filter_chains": []any{map[string]any{"filters": []any{
				hcm(strings.ReplaceAll(tag, "-", "_"), []any{map[string]any{"name": name, "typed_config": ourFilter(t, name, plug{guest: f.guest, fail: fs.fail, vmID: tag})}})}}}}) // a VM each: they count requests per VM
			cases = append(cases, tcase{f.lang + "/fail-" + fs.tag, port, fs.status})
		}
	}
	p := startEnvoy(t, bootstrap(t, listeners, adminPort, up), adminPort, 1)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if r := do(t, tc.port, req{}); r.Headers["x-vm-requests"] != "1" {
				t.Fatalf("first request %+v", r)
			}
			if r := do(t, tc.port, req{}); r.Headers["x-vm-requests"] != "2" {
				t.Fatalf("second request %+v", r)
			}
			if r := do(t, tc.port, req{headers: []string{"x-fault", "trap"}}); r.Status != tc.status {
				t.Fatalf("trap: status %d, want %d", r.Status, tc.status)
			}
			if r := do(t, tc.port, req{}); r.Status != 200 || r.Headers["x-vm-requests"] != "1" {
				t.Fatalf("after the trap: %+v, want 200 from a fresh VM (x-vm-requests 1)", r)
			}
			start := time.Now()
			if r := do(t, tc.port, req{headers: []string{"x-fault", "loop"}}); r.Status != tc.status {
				t.Fatalf("loop: status %d, want %d", r.Status, tc.status)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("the loop held the request for %v", d)
			}
			if r := do(t, tc.port, req{}); r.Status != 200 || r.Headers["x-vm-requests"] != "1" {
				t.Fatalf("after the loop: %+v", r)
			}
		})
	}
	if !p.Alive() {
		t.Fatal("Envoy died")
	}
}

// TestEnvoy_RejectedConfigKeepsServing delivers the plugin through ECDS from a file: a
// configuration the plugin refuses is rejected by Envoy (NACK) and the previous one keeps
// serving; a good update then takes effect. The same is done on V8 for comparison, with the
// Go guest (refuse, configuration in x-config) and the C guest (headers, in x-plugin-config).
func TestEnvoy_RejectedConfigKeepsServing(t *testing.T) {
	requireEnvoy(t)
	up := upstream(t)
	adminPort := freePort(t)
	dir := t.TempDir()
	type side struct {
		kind, name, file, typeURL, header string
		port                              int
		cfg                               func(name, c string) map[string]any
	}
	var sides []side
	for _, g := range []struct {
		lang, header string
		guest        wasmtest.Guest
	}{{"go", "x-config", wasmtest.Go(t, "refuse")}, {"c", "x-plugin-config", wasmtest.C(t, "headers", "")}} {
		sides = append(sides,
			side{kind: g.lang + "-ours", name: "extensions.istio.io/trafficextension/ns.refuse-" + g.lang, header: g.header,
				typeURL: "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter",
				cfg:     func(name, c string) map[string]any { return ourFilter(t, name, plug{guest: g.guest, pluginConfig: c}) }},
			side{kind: g.lang + "-v8", name: "v8-refuse-" + g.lang, header: g.header, typeURL: "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
				cfg: func(name, c string) map[string]any {
					return v8Filter("ns.refuse-"+g.lang, plug{guest: g.guest, pluginConfig: c})
				}})
	}
	write := func(s side, c string) {
		doc := map[string]any{"resources": []any{map[string]any{
			"@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig", "name": s.name, "typed_config": s.cfg(s.name, c)}}}
		b, _ := json.Marshal(doc)
		tmp := filepath.Join(dir, s.kind+".tmp")
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, s.file); err != nil {
			t.Fatal(err)
		}
	}
	var listeners []any
	for i := range sides {
		s := &sides[i]
		s.port, s.file = freePort(t), filepath.Join(dir, s.kind+".json")
		write(*s, "v1")
		listeners = append(listeners, map[string]any{"name": s.kind, "address": addr(s.port), "filter_chains": []any{map[string]any{"filters": []any{
			hcm(strings.ReplaceAll(s.kind, "-", "_"), []any{map[string]any{"name": s.name, "config_discovery": map[string]any{
				"config_source": map[string]any{"path_config_source": map[string]any{"path": s.file}, "resource_api_version": "V3"},
				"type_urls":     []any{s.typeURL},
			}}})}}}})
	}
	startEnvoy(t, bootstrap(t, listeners, adminPort, up), adminPort, 1)
	waitFor := func(s side, want string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			r := do(t, s.port, req{})
			if r.Headers[s.header] == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s %q, want %q (%+v)", s.kind, s.header, r.Headers[s.header], want, r)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for _, s := range sides {
		t.Run(s.kind, func(t *testing.T) {
			waitFor(s, "v1")
			write(s, "refuse")
			time.Sleep(1500 * time.Millisecond)
			waitFor(s, "v1")
			write(s, "v2")
			waitFor(s, "v2")
		})
	}
}

// TestEnvoy_CorazaWAF runs the Coraza + OWASP CRS guest through our host in real Envoy (and
// the same module on V8): XSS and SQL injection are answered 403, clean requests pass.
// Envoy 1.36.2's V8 host cannot load this module: a standard-Go build of coraza imports
// wasi_snapshot_preview1.fd_filestat_set_size, which proxy-wasm-cpp-host does not provide
// ("Failed to load Wasm module due to a missing import", after ~85 s of compilation). So the
// comparison is off by default; -waf-listeners=2 shows it.
var wafListeners = flag.Int("waf-listeners", 1, "1: our host only; 2: our host and V8")

func TestEnvoy_CorazaWAF(t *testing.T) {
	requireEnvoy(t)
	waf := wasmtest.WAF(t)
	up := upstream(t)
	adminPort := freePort(t)
	ours, v8 := freePort(t), freePort(t)
	name := "extensions.istio.io/trafficextension/ns.waf"
	p := plug{guest: waf}
	listeners := []any{
		map[string]any{"name": "ours", "address": addr(ours), "filter_chains": []any{map[string]any{"filters": []any{
			hcm("ours", []any{map[string]any{"name": name, "typed_config": ourFilter(t, name, p)}})}}}},
		map[string]any{"name": "v8", "address": addr(v8), "filter_chains": []any{map[string]any{"filters": []any{
			hcm("v8", []any{map[string]any{"name": "v8-waf", "typed_config": v8Filter(name, p)}})}}}},
	}
	start := time.Now()
	startEnvoyWithin(t, bootstrap(t, listeners[:*wafListeners], adminPort, up), adminPort, 2, 5*time.Minute)
	t.Logf("Envoy with the WAF on both hosts live after %v", time.Since(start))
	form := []string{"content-type", "application/x-www-form-urlencoded"}
	for _, tc := range []struct {
		name   string
		r      req
		status int
	}{
		{"clean", req{path: "/hello?name=world"}, 200},
		{"xss", req{path: "/?q=%3Cscript%3Ealert(1)%3C/script%3E"}, 403},
		{"sqli", req{path: "/?id=1%27%20OR%20%271%27=%271"}, 403},
		{"clean post", req{method: "POST", path: "/form", body: "name=alice", headers: form}, 200},
		{"sqli in body", req{method: "POST", path: "/form", body: "id=1' UNION SELECT password FROM users--", headers: form}, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, ours, tc.r)
			if a.Status != tc.status {
				t.Errorf("our host: status %d, want %d", a.Status, tc.status)
			}
			if *wafListeners < 2 {
				return
			}
			b := do(t, v8, tc.r)
			if a.Status != b.Status || a.Headers["x-waf-rule"] != b.Headers["x-waf-rule"] || a.Body != b.Body {
				t.Errorf("our host and V8 differ: %+v vs %+v", a, b)
			}
		})
	}
}

func startProcess(ctx context.Context, boot string, adminPort, concurrency int, env ...string) (*envoyproc.Process, error) {
	return envoyproc.Start(ctx, envoyproc.Options{Bootstrap: boot, AdminPort: adminPort, Concurrency: concurrency, LogLevel: "warning", Env: env})
}
