//go:build conformance

package wasm_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/trafficext/trafficext/engine/wasm/wasmtest"
	"github.com/trafficext/trafficext/extconfig"
	"github.com/trafficext/trafficext/internal/envoyproc"
)

// TestEnvoy_NetworkCallout: a network context holds a connection's first data while an HTTP
// call decides (the C TCP guest, "authz <cluster>"): 200 resumes the connection from the call's
// response (proxy_set_effective_context + proxy_continue_stream(DOWNSTREAM)), 403 closes it. Our
// host sends the call through the callout gateway, V8 through Envoy's client; bytes, end of
// connection and guest logs are diffed.
func TestEnvoy_NetworkCallout(t *testing.T) {
	requireEnvoy(t)
	g := wasmtest.C(t, "tcp", "")
	echo := tcpEcho(t)
	answer := func(code int) int {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) })}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		return ln.Addr().(*net.TCPAddr).Port
	}
	allow, deny := answer(200), answer(403)
	socket := fmt.Sprintf("@trafficext-net-callout-%d-%d", os.Getpid(), time.Now().UnixNano())
	adminPort := freePort(t)
	type pair struct {
		name, config string
		ours, v8     int
		want         string
	}
	pairs := []*pair{{name: "allow", config: "authz web", want: "hello\n!"}, {name: "deny", config: "authz deny", want: ""}}
	listeners := []any{calloutGatewayListener(t, socket)}
	for _, pr := range pairs {
		pr.ours, pr.v8 = freePort(t), freePort(t)
		name := "extensions.istio.io/trafficextension/ns.callout-" + pr.name
		ext := extconfig.Extension{Name: name, CalloutGateway: "unix:" + socket, Wasm: &extconfig.Wasm{
			Path: g.Path, SHA256: g.SHA256, PluginName: "root", VMID: pr.name, PluginConfig: []byte(pr.config)}}
		raw, err := extconfig.Marshal(&ext)
		if err != nil {
			t.Fatal(err)
		}
		ours := map[string]any{"name": name, "typed_config": map[string]any{
			"@type":                 "type.googleapis.com/envoy.extensions.filters.network.dynamic_modules.v3.DynamicModuleNetworkFilter",
			"dynamic_module_config": map[string]any{"name": "trafficext", "do_not_close": true},
			"filter_name":           "trafficext", "filter_config": stringValue(string(raw)),
		}}
		listeners = append(listeners,
			map[string]any{"name": pr.name + "-ours", "address": addr(pr.ours), "filter_chains": []any{map[string]any{
				"filters": []any{ours, tcpProxy(pr.name + "_ours")}}}},
			map[string]any{"name": pr.name + "-v8", "address": addr(pr.v8), "filter_chains": []any{map[string]any{
				"filters": []any{v8NetworkFilter(name, g, pr.config), tcpProxy(pr.name + "_v8")}}}})
	}
	cluster := func(name string, port int) map[string]any {
		return map[string]any{"name": name, "type": "STATIC", "connect_timeout": "1s",
			"load_assignment": map[string]any{"cluster_name": name, "endpoints": []any{map[string]any{
				"lb_endpoints": []any{map[string]any{"endpoint": map[string]any{"address": addr(port)}}}}}}}
	}
	boot, err := json.Marshal(map[string]any{
		"node":  map[string]any{"id": "net-callout", "cluster": "net-callout"},
		"admin": map[string]any{"address": addr(adminPort)},
		"static_resources": map[string]any{"listeners": listeners,
			"clusters": []any{cluster("upstream", echo), cluster("web", allow), cluster("deny", deny)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	log := &syncBuffer{}
	releasePorts()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := envoyproc.Start(ctx, envoyproc.Options{Bootstrap: string(boot), AdminPort: adminPort, Concurrency: 2,
		LogLevel: "warning", ComponentLogLevel: "wasm:info,dynamic_modules:info", Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("envoy log:\n%s", log.String())
		}
		p.Stop()
	})
	for _, pr := range pairs {
		t.Run(pr.name, func(t *testing.T) {
			x := netExchange{chunks: []string{"hello\n"}}
			ours, v8 := netDo(t, pr.ours, x), netDo(t, pr.v8, x)
			if ours.Data != pr.want || ours.End != "eof" {
				t.Errorf("our host: %+v, want %q then eof", ours, pr.want)
			}
			if ours != v8 {
				t.Errorf("our host %+v, V8 %+v", ours, v8)
			}
			var o, v []string
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				if o, v = splitByHost(log.String(), "ns.callout-"+pr.name); countDone(o) >= 1 && countDone(v) >= 1 {
					break
				}
			}
			if fmt.Sprint(o) != fmt.Sprint(v) || len(o) == 0 {
				t.Errorf("guest logs differ:\nours:\n  %q\nV8:\n  %q", o, v)
			}
			t.Logf("guest log (ours = V8): %q", o)
		})
	}
}
