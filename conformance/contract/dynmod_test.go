//go:build conformance

// Package contract runs the binding contract against real Envoy with the dynamic module.
package contract

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trafficext/trafficext/extconfig"
	"github.com/trafficext/trafficext/host/contract"
	"github.com/trafficext/trafficext/internal/envoyproc"
	"github.com/trafficext/trafficext/internal/loopback"
)

// TestContractRealEnvoy runs the binding contract through a real Envoy 1.39.3 loading
// out/libtrafficext.so (make build) as a dynamic module: every case gets its own Envoy with
// a static listener holding the case's extensions as dynamic-module filters, in front of an
// upstream that answers as the case says and records what it received.
func TestContractRealEnvoy(t *testing.T) {
	if _, err := envoyproc.FindBinary(); err != nil {
		t.Fatal(err)
	}
	if _, err := envoyproc.ModuleDir(); err != nil {
		t.Fatal(err)
	}
	contract.Run(t, envoyDriver{filter: dynmodFilter})
}

// envoyDriver runs each case in its own Envoy; filter is the HTTP filter config of one
// extension (raw is its extconfig message) for the binding under test.
type envoyDriver struct {
	filter func(name string, raw []byte) (map[string]any, error)
}

// dynmodFilter hosts an extension in the dynamic module libtrafficext.so.
func dynmodFilter(name string, raw []byte) (map[string]any, error) {
	return map[string]any{
		"@type":                 "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter",
		"dynamic_module_config": map[string]any{"name": "trafficext", "do_not_close": true},
		"filter_name":           "trafficext",
		"filter_config":         map[string]any{"@type": "type.googleapis.com/google.protobuf.StringValue", "value": string(raw)},
	}, nil
}

// recorder is the upstream of one case.
type recorder struct {
	mu      sync.Mutex
	reached bool
	headers map[string][]string
	up      contract.Upstream
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	io.Copy(io.Discard, req.Body)
	r.mu.Lock()
	r.reached = true
	r.headers = map[string][]string{}
	for k, v := range req.Header {
		r.headers[strings.ToLower(k)] = v
	}
	r.headers[":authority"] = []string{req.Host}
	r.mu.Unlock()
	for _, h := range r.up.Headers {
		w.Header().Add(h.Name, h.Value)
	}
	w.WriteHeader(r.up.Status)
	io.WriteString(w, r.up.Body)
}

func freePort(t testing.TB) int {
	p, err := loopback.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (d envoyDriver) Do(t testing.TB, c contract.Case) contract.Result {
	c = c.Normalize()
	rec := &recorder{up: c.Upstream}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rec}
	go srv.Serve(ln)
	defer srv.Close()

	listenPort, adminPort := freePort(t), freePort(t)
	boot, err := staticBootstrap(d.filter, c.Extensions, listenPort, adminPort, ln.Addr().(*net.TCPAddr).Port)
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	if fi := c.FaultInjectionEnv(); fi != "" {
		env = append(env, "TRAFFICEXT_FAULT_INJECTION="+fi)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := envoyproc.Start(ctx, envoyproc.Options{Bootstrap: boot, AdminPort: adminPort, Env: env, LogLevel: "warning"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()

	req, err := http.NewRequest(c.Request.Method, fmt.Sprintf("http://127.0.0.1:%d%s", listenPort, c.Request.Path), strings.NewReader(c.Request.Body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = c.Request.Authority
	for _, h := range c.Request.Headers {
		req.Header.Add(h.Name, h.Value)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("request through Envoy: %v\n%s", err, p.Log())
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !p.Alive() {
		t.Fatalf("Envoy died:\n%s", p.Log())
	}
	res := contract.Result{Status: resp.StatusCode, Headers: map[string][]string{}, Body: string(body)}
	for k, v := range resp.Header {
		res.Headers[strings.ToLower(k)] = v
	}
	rec.mu.Lock()
	res.UpstreamReached, res.UpstreamHeaders = rec.reached, rec.headers
	rec.mu.Unlock()
	if t.Failed() || testing.Verbose() {
		t.Logf("envoy log:\n%s", p.Log())
	}
	return res
}

// staticBootstrap is an Envoy bootstrap with one listener whose chain holds exts (in order) as
// the binding's filters, then the router to the upstream.
func staticBootstrap(filter func(string, []byte) (map[string]any, error), exts []extconfig.Extension, listenPort, adminPort, upstreamPort int) (string, error) {
	var filters []any
	for i := range exts {
		raw, err := extconfig.Marshal(&exts[i])
		if err != nil {
			return "", err
		}
		cfg, err := filter(exts[i].Name, raw)
		if err != nil {
			return "", err
		}
		filters = append(filters, map[string]any{"name": exts[i].Name, "typed_config": cfg})
	}
	filters = append(filters, map[string]any{"name": "envoy.filters.http.router", "typed_config": map[string]any{
		"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}})
	addr := func(port int) map[string]any {
		return map[string]any{"socket_address": map[string]any{"address": "127.0.0.1", "port_value": port}}
	}
	b := map[string]any{
		"admin": map[string]any{"address": addr(adminPort)},
		"static_resources": map[string]any{
			"listeners": []any{map[string]any{
				"name": "contract", "address": addr(listenPort),
				"filter_chains": []any{map[string]any{"filters": []any{map[string]any{
					"name": "envoy.filters.network.http_connection_manager",
					"typed_config": map[string]any{
						"@type":       "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
						"stat_prefix": "contract",
						"route_config": map[string]any{"virtual_hosts": []any{map[string]any{
							"name": "all", "domains": []any{"*"},
							"routes": []any{map[string]any{"match": map[string]any{"prefix": "/"},
								"route": map[string]any{"cluster": "upstream", "timeout": "5s"}}},
						}}},
						"http_filters": filters,
					},
				}}}},
			}},
			"clusters": []any{map[string]any{
				"name": "upstream", "type": "STATIC", "connect_timeout": "1s",
				"load_assignment": map[string]any{"cluster_name": "upstream", "endpoints": []any{map[string]any{
					"lb_endpoints": []any{map[string]any{"endpoint": map[string]any{"address": addr(upstreamPort)}}}}}},
			}},
		},
	}
	out, err := json.MarshalIndent(b, "", "  ")
	return string(out), err
}
