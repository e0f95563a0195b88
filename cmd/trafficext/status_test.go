package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/trafficext/trafficext/xds/server"
)

func TestStatusCommand(t *testing.T) {
	rep := server.Report{
		Extensions: []server.ExtensionReport{
			{Name: "istio-system/auth", Kind: "TrafficExtension", State: server.StateAccepted, Proxies: []string{"gw-1"},
				Module: &server.ModuleReport{SHA256: "abc"}, Origin: "ext/auth.yaml"},
			{Name: "apps/bad", Kind: "TrafficExtension", State: server.StateRejected, Proxies: []string{},
				Errors: []string{"ext/bad.yaml: apps/bad: spec: exactly one of wasm or lua must be set"}, Origin: "ext/bad.yaml"},
		},
		Proxies: []server.ProxyReport{{ID: "gw-1", Mode: "gateway", Namespace: "istio-system", Chain: []string{"x"}}},
		NACKs:   []server.NACK{{Node: "gw-1", TypeURL: "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig", Version: "v2", Message: "bad config", Time: time.Unix(0, 0)}},
	}
	hs := httptest.NewServer(server.StatusHandler(func() server.Report { return rep }))
	defer hs.Close()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"status", "--address", strings.TrimPrefix(hs.URL, "http://")}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{
		"istio-system/auth  TrafficExtension  accepted  1        sha256:abc",
		"apps/bad           TrafficExtension  rejected  0        -",
		"  error:   ext/bad.yaml: apps/bad: spec: exactly one of wasm or lua must be set",
		"  proxies: gw-1",
		"gw-1 type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig version v2",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestIstioRenderCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"istio", "render", "--xds-address", "cp.mesh:18000", "../../examples"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"kind: EnvoyFilter", "address: cp.mesh", "name: extensions.istio.io/trafficextension/istio-system.parity"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
