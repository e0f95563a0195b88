package xds_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/trafficext/trafficext/xds/server"
	"github.com/trafficext/trafficext/xds/xdstest"
)

const mixedGood = `apiVersion: extensions.istio.io/v1alpha1
kind: TrafficExtension
metadata: {name: good-1, namespace: istio-system}
spec: {phase: AUTHN, lua: {inlineCode: "function envoy_on_request(h) end"}}
---
apiVersion: extensions.istio.io/v1alpha1
kind: TrafficExtension
metadata: {name: good-2, namespace: istio-system}
spec: {phase: STATS, priority: 5, lua: {inlineCode: "function envoy_on_response(h) end"}}
`

const mixedSameFile = `apiVersion: extensions.istio.io/v1alpha1
kind: TrafficExtension
metadata: {name: good-3, namespace: istio-system}
spec: {phase: AUTHZ, lua: {inlineCode: "function envoy_on_request(h) end"}}
---
apiVersion: extensions.istio.io/v1alpha1
kind: TrafficExtension
metadata: {name: bad-cel, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: ingressgateway}]
  lua: {inlineCode: "function envoy_on_request(h) end"}
---
apiVersion: extensions.istio.io/v1alpha1
kind: TrafficExtension
metadata: {name: bad-network, namespace: istio-system}
spec: {wasm: {url: "oci://r/x:1", type: NETWORK, sha256: abc}}
---
apiVersion: extensions.istio.io/v1alpha1
kind: TrafficExtension
metadata: {name: other-namespace, namespace: apps}
spec: {lua: {inlineCode: "function envoy_on_request(h) end"}}
`

// TestControlPlane_MixedDirectory: one directory with valid resources, a WasmPlugin, invalid
// resources beside valid ones in the same file and a file that does not parse. Every valid
// resource is served; the report says which are rejected and why, which proxies each reaches,
// and the module digest of the Wasm one.
func TestControlPlane_MixedDirectory(t *testing.T) {
	dir := t.TempDir()
	module := []byte("\x00asm\x01\x00\x00\x00")
	modPath := filepath.Join(dir, "plugin.wasm")
	if err := os.WriteFile(modPath, module, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(module)
	digest := hex.EncodeToString(sum[:])
	write(t, filepath.Join(dir, "good.yaml"), mixedGood)
	write(t, filepath.Join(dir, "mixed.yaml"), mixedSameFile)
	write(t, filepath.Join(dir, "broken.yaml"), "apiVersion: extensions.istio.io/v1alpha1\nkind: [\n")
	write(t, filepath.Join(dir, "plugin.yaml"), `apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {name: legacy, namespace: istio-system}
spec: {url: "file://`+modPath+`", sha256: `+digest+`, phase: AUTHZ, priority: 1}
`)
	cp, addr, ctx := startControlPlane(t, dir)
	c := xdstest.Dial(t, ctx, addr, gatewayID)
	c.Subscribe(resource.ListenerType)
	c.Next(resource.ListenerType, 5*time.Second)

	var rep server.Report
	deadline := time.Now().Add(5 * time.Second)
	for {
		rep = cp.Report()
		if len(rep.Proxies) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	wantChain := []string{
		"extensions.istio.io/trafficextension/istio-system.good-1",
		"extensions.istio.io/trafficextension/istio-system.legacy~istio-translated-wasmplugin",
		"extensions.istio.io/trafficextension/istio-system.good-3",
		"extensions.istio.io/trafficextension/istio-system.good-2",
	}
	if len(rep.Proxies) != 1 || strings.Join(rep.Proxies[0].Chain, " ") != strings.Join(wantChain, " ") {
		t.Fatalf("proxies = %+v\nwant chain %v", rep.Proxies, wantChain)
	}
	states := map[string]server.ExtensionReport{}
	for _, e := range rep.Extensions {
		states[e.Name] = e
	}
	for _, name := range []string{"istio-system/good-1", "istio-system/good-2", "istio-system/good-3", "istio-system/legacy~istio-translated-wasmplugin"} {
		e := states[name]
		if e.State != server.StateAccepted || len(e.Proxies) != 1 || e.Proxies[0] != gatewayID.ID || len(e.Errors) != 0 {
			t.Errorf("%s = %+v", name, e)
		}
	}
	if e := states["apps/other-namespace"]; e.State != server.StateAccepted || len(e.Proxies) != 0 {
		t.Errorf("apps/other-namespace = %+v (accepted, reaches no connected proxy)", e)
	}
	if e := states["istio-system/legacy~istio-translated-wasmplugin"]; e.Kind != "WasmPlugin" || e.Module == nil || e.Module.SHA256 != digest {
		t.Errorf("WasmPlugin = %+v module %+v, want digest %s", e, e.Module, digest)
	}
	for name, want := range map[string]string{
		"istio-system/bad-cel":     "mixed.yaml: istio-system/bad-cel: spec: only one of targetRefs or selector can be set",
		"istio-system/bad-network": `mixed.yaml: istio-system/bad-network: spec.wasm.sha256: "abc" must be 64 lower-case hex characters`,
	} {
		e := states[name]
		if e.State != server.StateRejected || len(e.Errors) == 0 || !strings.Contains(e.Errors[0], want) || len(e.Proxies) != 0 {
			t.Errorf("%s = %+v, want rejected with %q", name, e, want)
		}
	}
	if len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "broken.yaml") {
		t.Errorf("problems = %q", rep.Problems)
	}

	// The same report over HTTP, as `trafficext status` reads it.
	hs := httptest.NewServer(server.StatusHandler(cp.Report))
	defer hs.Close()
	got, err := server.FetchReport(context.Background(), strings.TrimPrefix(hs.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Extensions) != len(rep.Extensions) || got.Extensions[0].Name != rep.Extensions[0].Name {
		t.Errorf("over HTTP: %+v", got.Extensions)
	}
}
