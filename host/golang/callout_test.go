package golang

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/trafficext/trafficext/core"
	"github.com/trafficext/trafficext/engine/callout"
	"github.com/trafficext/trafficext/engine/wasm/wasmtest"
	"github.com/trafficext/trafficext/extconfig"
	"github.com/trafficext/trafficext/host/contract"
	"github.com/trafficext/trafficext/host/engines"
)

// gatewayStandIn is an h2c server in the role of the proxy's callout gateway: it answers
// each call with the cluster it was routed to and the request body.
func gatewayStandIn(t *testing.T) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("x-cluster", r.Header.Get(callout.ClusterHeader))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(r.Method + " " + r.URL.Path + " " + string(body)))
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// TestStream_HTTPCall_ThroughTheGateway: a stream's HTTP call goes through the callout gateway
// of the extension's config; the request is held until the callback resumes it.
func TestStream_HTTPCall_ThroughTheGateway(t *testing.T) {
	gw := gatewayStandIn(t)
	for _, tc := range []struct {
		name    string
		gateway string
		want    contract.Expect
	}{
		{"gateway", gw, contract.Expect{Status: 200, UpstreamReached: true, UpstreamHeaders: map[string]string{
			"x-callout": "POST /check ping", "x-callout-cluster": "authz",
		}}},
		{"no gateway", "", contract.Expect{Status: 200, UpstreamReached: true, UpstreamHeaders: map[string]string{
			"x-callout-error": "unsupported",
		}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newFuncEngine()
			ext := e.register(strings.ReplaceAll(t.Name(), "/", "-"), "", func(s core.Stream) *funcFilter {
				return &funcFilter{reqHeaders: func(bool) core.Status {
					err := s.HTTPCall(core.CalloutRequest{
						Cluster: "authz", Timeout: 5 * time.Second, Body: []byte("ping"),
						Headers: []core.Header{{Key: ":method", Value: "POST"}, {Key: ":path", Value: "/check"}, {Key: ":authority", Value: "authz"}},
					}, func(r core.CalloutResponse) {
						if r.Err != nil {
							s.SendLocalReply(core.LocalReply{Status: 502, Body: []byte(r.Err.Error())})
							return
						}
						s.RequestHeaders().Set("x-callout", string(r.Body))
						for _, h := range r.Headers {
							if h.Key == "x-cluster" {
								s.RequestHeaders().Set("x-callout-cluster", h.Value)
							}
						}
						s.ContinueRequest()
					})
					if errors.Is(err, core.ErrUnsupported) {
						s.RequestHeaders().Set("x-callout-error", "unsupported")
						return core.Continue
					}
					if err != nil {
						t.Errorf("HTTPCall: %v", err)
						return core.Continue
					}
					return core.StopIteration
				}}
			})
			ext.CalloutGateway = tc.gateway
			h := newHarness(t, []core.Engine{e})
			r := h.run(contract.Case{Extensions: []extconfig.Extension{ext}})
			contract.Check(t, contract.Case{Expect: tc.want}, r.Result)
		})
	}
}

// TestWasm_DispatchThroughTheGateway: the engine set both libraries build (host/engines) runs a
// Wasm extension in this binding, and its stream's proxy_http_call calls go through the
// callout gateway.
func TestWasm_DispatchThroughTheGateway(t *testing.T) {
	g := wasmtest.Go(t, "dispatch")
	s, err := engines.FromEnv(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	ext := extconfig.Extension{
		Schema: extconfig.SchemaVersion, Name: contract.NamePrefix + "dispatch",
		Wasm:           &extconfig.Wasm{Path: g.Path, SHA256: g.SHA256, PluginConfig: []byte("cluster=authz;calls=2")},
		CalloutGateway: gatewayStandIn(t),
	}
	r := newHarness(t, s.Engines(), s.Options()...).run(contract.Case{Extensions: []extconfig.Extension{ext}})
	contract.Check(t, contract.Case{Expect: contract.Expect{Status: 200, UpstreamReached: true, UpstreamHeaders: map[string]string{
		"x-dispatch-status": "200,200", "x-dispatch-count": "2",
	}}}, r.Result)
}
