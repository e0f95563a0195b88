//go:build conformance

package registry

// The Wasm module stage through the control plane's ECDS output (what a proxy would receive),
// against a real registry (Debian's docker-registry; see xds/fetch/fetchtest).

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trafficext/trafficext/xds/proxyid"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	dmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/dynamic_modules/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/trafficext/trafficext/extconfig"
	"github.com/trafficext/trafficext/xds"
	"github.com/trafficext/trafficext/xds/fetch"
	"github.com/trafficext/trafficext/xds/fetch/fetchtest"
	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/xdstest"
)

func startWasmControlPlane(t *testing.T, dir string, fo fetch.Options) (*xds.ControlPlane, *xdstest.ADSClient) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if fo.CacheDir == "" {
		fo.CacheDir = t.TempDir()
	}
	fo.Attempts, fo.Backoff = 2, 10*time.Millisecond
	cp, err := xds.New(xds.Options{Dir: dir, Logger: xdstest.Logger(t), Wasm: xds.WasmOptions{
		Fetch:    fo,
		Resolver: fetch.ResolverOptions{SyncWait: 3 * time.Second, RetryBase: 100 * time.Millisecond, RetryMax: 400 * time.Millisecond},
	}})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cp.Serve(ctx, lis) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-cp.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("control plane not ready")
	}
	c := xdstest.Dial(t, ctx, lis.Addr().String(), gatewayID)
	return cp, c
}

// ecdsState waits until the extension configs the proxy receives satisfy ok, and returns them
// by name (a config absent from the response is absent from the map).
func ecdsState(t *testing.T, c *xdstest.ADSClient, names []string, timeout time.Duration, ok func(map[string]*extconfig.Extension) bool) map[string]*extconfig.Extension {
	t.Helper()
	c.Subscribe(resource.ExtensionConfigType, names...)
	deadline := time.After(timeout)
	var last map[string]*extconfig.Extension
	for {
		select {
		case r, open := <-c.Responses:
			if !open {
				t.Fatal("ADS stream closed")
			}
			if r.GetTypeUrl() != resource.ExtensionConfigType {
				continue
			}
			last = decodeECDS(t, r)
			if ok(last) {
				return last
			}
		case <-deadline:
			t.Fatalf("ECDS never reached the expected state; last: %s", describe(last))
		}
	}
}

func decodeECDS(t *testing.T, r *discovery.DiscoveryResponse) map[string]*extconfig.Extension {
	out := map[string]*extconfig.Extension{}
	for _, a := range r.GetResources() {
		tec := &corev3.TypedExtensionConfig{}
		f := &dmfilterv3.DynamicModuleFilter{}
		sv := &wrapperspb.StringValue{}
		if err := a.UnmarshalTo(tec); err != nil {
			t.Fatal(err)
		}
		if err := tec.GetTypedConfig().UnmarshalTo(f); err != nil {
			t.Fatal(err)
		}
		if err := f.GetFilterConfig().UnmarshalTo(sv); err != nil {
			t.Fatal(err)
		}
		ext, err := extconfig.Unmarshal([]byte(sv.GetValue()))
		if err != nil {
			t.Fatal(err)
		}
		out[tec.GetName()] = ext
	}
	return out
}

func describe(m map[string]*extconfig.Extension) string {
	var parts []string
	for n, e := range m {
		switch {
		case e.Deny != nil:
			parts = append(parts, fmt.Sprintf("%s: deny %d", n, e.Deny.Status))
		case e.Wasm != nil:
			parts = append(parts, fmt.Sprintf("%s: wasm %s", n, e.Wasm.SHA256[:12]))
		default:
			parts = append(parts, n+": lua")
		}
	}
	slices.Sort(parts)
	return "[" + strings.Join(parts, "; ") + "]"
}

func rn(name string) string { return model.Key{Namespace: "istio-system", Name: name}.ResourceName() }

// Acceptance 4: registry down → FAIL_CLOSE answers 403 from a deny slot and a failure is
// counted, FAIL_OPEN leaves the filter out; registry up → both become active on their own.
func TestWasm_RegistryDownThenUp(t *testing.T) {
	reg := fetchtest.Start(t, fetchtest.Options{})
	mod := fetchtest.Module("down-up")
	img, _ := fetch.Image(mod, fetch.LayoutOCIImage)
	if _, err := fetch.Push(context.Background(), reg.Addr+"/ext/m:0.0.1", img, fetch.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	reg.Stop()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "close.yaml"), xdstest.WasmDoc("closed", "url: "+reg.URL("ext/m:0.0.1")))
	write(t, filepath.Join(dir, "open.yaml"), xdstest.WasmDoc("opened", "url: "+reg.URL("ext/m:0.0.1")+"\nfailStrategy: FAIL_OPEN"))
	cp, c := startWasmControlPlane(t, dir, fetch.Options{})
	names := []string{rn("closed"), rn("opened")}
	got := ecdsState(t, c, names, 10*time.Second, func(m map[string]*extconfig.Extension) bool { return m[rn("closed")] != nil })
	if d := got[rn("closed")].Deny; d == nil || d.Status != 403 || got[rn("opened")] != nil {
		t.Fatalf("registry down: %s", describe(got))
	}
	if chain := cp.Status().Nodes["gw-1"].Chain; slices.Contains(chain, rn("opened")) || !slices.Contains(chain, rn("closed")) {
		t.Errorf("chain while down = %v", chain)
	}
	st := cp.Status()
	var found bool
	for _, p := range st.Problems {
		found = found || (strings.Contains(p.Error(), "istio-system/closed") && strings.Contains(p.Error(), "registry "+reg.Addr))
	}
	if !found {
		t.Errorf("problems do not name the extension and the registry: %v", st.Problems)
	}
	if m := cp.WasmMetrics(); m.Failure == 0 || m.FailureByReason[fetch.ReasonUnreachable] == 0 {
		t.Errorf("metrics while down: %+v", m)
	}

	reg.Start()
	got = ecdsState(t, c, names, 15*time.Second, func(m map[string]*extconfig.Extension) bool {
		return m[rn("closed")] != nil && m[rn("closed")].Wasm != nil && m[rn("opened")] != nil
	})
	for _, n := range names {
		if w := got[n].Wasm; w == nil || w.SHA256 != sum(mod) || !strings.HasPrefix(w.Path, cp.WasmCacheDir()) {
			t.Errorf("%s after recovery: %+v", n, got[n].Wasm)
		}
	}
	if m := cp.WasmMetrics(); m.Success == 0 {
		t.Errorf("metrics after recovery: %+v", m)
	}
}

// Acceptance 3 and 2 through ECDS: a wrong sha256 keeps the previous version; tag moves
// follow the pull policy when the resource changes; acceptance 1's secret comes from a
// kubernetes.io/dockerconfigjson Secret beside the extensions; acceptance 6: a second
// control-plane start does not download again.
func TestWasm_SHA256PolicyAndSecret(t *testing.T) {
	reg := fetchtest.Start(t, fetchtest.Options{TLS: true, Auth: true})
	ctx := context.Background()
	v1, v2 := fetchtest.Module("0.0.1"), fetchtest.Module("0.0.2")
	pushTo := func(repo string, mod []byte) string {
		img, _ := fetch.Image(mod, fetch.LayoutOCIImage)
		d, err := fetch.Push(ctx, reg.Addr+"/"+repo, img, fetch.PushOptions{RootCAs: reg.CAs, Username: fetchtest.Username, Password: fetchtest.Password})
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimPrefix(d, "sha256:")
	}
	d1 := pushTo("tag/ifnotpresent:0.0.1", v1)
	pushTo("tag/always:0.0.1", v1)
	pushTo("tag/unset:0.0.1", v1)
	pushTo("tag/unset:latest", v1)

	dir := t.TempDir()
	cache := t.TempDir()
	exts := map[string]string{
		"pinned":       "url: " + reg.URL("tag/ifnotpresent:0.0.1") + "\nsha256: \"" + d1 + "\"",
		"ifnotpresent": "url: " + reg.URL("tag/ifnotpresent:0.0.1") + "\nimagePullPolicy: IfNotPresent",
		"always":       "url: " + reg.URL("tag/always:0.0.1") + "\nimagePullPolicy: Always",
		"unset":        "url: " + reg.URL("tag/unset:0.0.1"),
		"latest":       "url: " + reg.URL("tag/unset:latest"),
	}
	var names []string
	writeAll := func(label string) {
		for n, w := range exts {
			var labels []string
			if label != "" {
				labels = append(labels, "rev: rev-"+label)
			}
			write(t, filepath.Join(dir, n+".yaml"), xdstest.WasmDoc(n, w+"\nimagePullSecret: creds", labels...))
		}
	}
	for n := range exts {
		names = append(names, rn(n))
	}
	writeAll("")
	cp, c := startWasmControlPlane(t, dir, fetch.Options{RootCAs: reg.CAs, CacheDir: cache})
	got := ecdsState(t, c, names, 10*time.Second, func(m map[string]*extconfig.Extension) bool { return len(m) == len(exts) })
	for _, n := range names {
		if got[n].Deny == nil {
			t.Fatalf("%s without the pull secret: %s", n, describe(got))
		}
	}
	var msg string
	for _, p := range cp.Status().Problems {
		if strings.Contains(p.Error(), "istio-system/always") {
			msg = p.Error()
		}
	}
	if !strings.Contains(msg, "registry "+reg.Addr) || !strings.Contains(msg, "pull_secret") || !strings.Contains(msg, "istio-system/creds") {
		t.Errorf("missing secret problem = %q", msg)
	}
	secret := fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: istio-system}\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '%s'\n", reg.DockerConfig())
	write(t, filepath.Join(dir, "secret.yaml"), secret)
	version := func(e *extconfig.Extension) string {
		switch {
		case e == nil || e.Wasm == nil:
			return "none"
		case e.Wasm.SHA256 == sum(v1):
			return "0.0.1"
		case e.Wasm.SHA256 == sum(v2):
			return "0.0.2"
		}
		return "?"
	}
	got = ecdsState(t, c, names, 10*time.Second, func(m map[string]*extconfig.Extension) bool {
		for _, n := range names {
			if version(m[n]) != "0.0.1" {
				return false
			}
		}
		return true
	})

	// Tags move; every resource changes (a label: new resourceVersion).
	pushTo("tag/ifnotpresent:0.0.1", v2)
	pushTo("tag/always:0.0.1", v2)
	pushTo("tag/unset:0.0.1", v2)
	pushTo("tag/unset:latest", v2)
	writeAll("2")
	want := map[string]string{"pinned": "0.0.1", "ifnotpresent": "0.0.1", "always": "0.0.2", "unset": "0.0.1", "latest": "0.0.2"}
	got = ecdsState(t, c, names, 10*time.Second, func(m map[string]*extconfig.Extension) bool {
		for n, v := range want {
			if version(m[rn(n)]) != v {
				return false
			}
		}
		return true
	})

	// A wrong sha256: rejected, the previous version keeps serving.
	write(t, filepath.Join(dir, "pinned.yaml"), xdstest.WasmDoc("pinned", "url: "+reg.URL("tag/ifnotpresent:0.0.1")+"\nsha256: \""+strings.Repeat("0", 64)+"\"\nimagePullSecret: creds"))
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(cp.Status().Stale, model.Key{Namespace: "istio-system", Name: "pinned"}) {
		if time.Now().After(deadline) {
			t.Fatalf("wrong sha256 not reported stale: %+v", cp.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.Quiet(300 * time.Millisecond) // nothing new is served
	msg = ""
	for _, p := range cp.Status().Problems {
		if strings.Contains(p.Error(), "istio-system/pinned") {
			msg = p.Error()
		}
	}
	if !strings.Contains(msg, "checksum_mismatch") || !strings.Contains(msg, "previous version keeps serving") {
		t.Errorf("wrong sha256 problem = %q", msg)
	}

	// A second control plane on the same cache: no download (the registry is down).
	reg.Stop()
	downloads := cp.WasmMetrics().Downloads
	write(t, filepath.Join(dir, "pinned.yaml"), xdstest.WasmDoc("pinned", "url: "+reg.URL("tag/ifnotpresent:0.0.1")+"\nsha256: \""+d1+"\"\nimagePullSecret: creds"))
	delete(exts, "always")
	delete(exts, "latest")
	for _, n := range []string{"always", "latest"} {
		if err := os.Remove(filepath.Join(dir, n+".yaml")); err != nil {
			t.Fatal(err)
		}
	}
	cp2, c2 := startWasmControlPlane(t, dir, fetch.Options{RootCAs: reg.CAs, CacheDir: cache})
	names2 := []string{rn("pinned"), rn("ifnotpresent"), rn("unset")}
	got = ecdsState(t, c2, names2, 10*time.Second, func(m map[string]*extconfig.Extension) bool { return len(m) == 3 })
	for _, n := range names2 {
		if got[n].Wasm == nil {
			t.Errorf("second start, %s: %s", n, describe(got))
		}
	}
	if m := cp2.WasmMetrics(); m.Downloads != 0 || m.CacheHits != 3 {
		t.Errorf("second start metrics %+v (first start downloaded %d)", m, downloads)
	}
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

var gatewayID = proxyid.Identity{
	ID: "gw-1", Mode: proxyid.Gateway, Namespace: "istio-system",
	Labels:      map[string]string{"istio": "ingressgateway", "app": "istio-ingressgateway"},
	GatewayName: "ingressgateway",
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
