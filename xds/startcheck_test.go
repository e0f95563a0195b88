package xds_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trafficext/trafficext/extconfig"
	"github.com/trafficext/trafficext/xds"
	"github.com/trafficext/trafficext/xds/fetch"
	"github.com/trafficext/trafficext/xds/fetch/fetchtest"
	"github.com/trafficext/trafficext/xds/server"
	"github.com/trafficext/trafficext/xds/xdstest"
)

// refuseRoot is a StartChecker double: the root id "bad" does not start.
type refuseRoot struct{}

func (refuseRoot) CheckStart(_ context.Context, e *extconfig.Extension) error {
	if e.Wasm.PluginName == "bad" {
		return errors.New("proxy_on_configure returned false")
	}
	return nil
}

// The status report of modules that do not start: rejected (with its fail strategy's slot)
// without an earlier version, stale while the earlier version keeps serving.
func TestReport_WasmModuleDoesNotStart(t *testing.T) {
	dir := t.TempDir()
	module := filepath.Join(t.TempDir(), "m.wasm")
	if err := os.WriteFile(module, fetchtest.Module("m"), 0o644); err != nil {
		t.Fatal(err)
	}
	write := func(name, root, fail string) {
		doc := xdstest.WasmDoc(name, "url: file://"+module+"\npluginName: "+root+"\nfailStrategy: "+fail)
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("closed", "bad", "FAIL_CLOSE")
	write("open", "bad", "FAIL_OPEN")
	write("upgraded", "good", "FAIL_CLOSE")
	ctx, cancel := context.WithCancel(context.Background())
	cp, err := xds.New(xds.Options{Dir: dir, Logger: xdstest.Logger(t), Wasm: xds.WasmOptions{
		Fetch:    fetch.Options{CacheDir: t.TempDir()},
		Resolver: fetch.ResolverOptions{StartChecker: refuseRoot{}},
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
	<-cp.Ready()

	report := func(ok func(map[string]server.ExtensionReport) bool) map[string]server.ExtensionReport {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			by := map[string]server.ExtensionReport{}
			for _, x := range cp.Report().Extensions {
				by[x.Name] = x
			}
			if ok(by) {
				return by
			}
			if time.Now().After(deadline) {
				t.Fatalf("report never reached the expected state: %+v", by)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	by := report(func(by map[string]server.ExtensionReport) bool {
		return by["istio-system/upgraded"].State == server.StateAccepted
	})
	for _, name := range []string{"closed", "open"} {
		x := by["istio-system/"+name]
		want := "istio-system/" + name + ": spec.wasm.url: module does not start: proxy_on_configure returned false"
		if x.State != server.StateRejected || len(x.Errors) != 1 || !strings.Contains(x.Errors[0], want) {
			t.Errorf("%s: state %q errors %q, want rejected with %q", name, x.State, x.Errors, want)
		}
	}
	if m := by["istio-system/closed"].Module; m == nil || !strings.HasPrefix(m.Deny, "403") {
		t.Errorf("closed: module %+v, want the 403 deny slot", m)
	}
	if m := by["istio-system/open"].Module; m != nil {
		t.Errorf("open: module %+v, want none (left out)", m)
	}
	if st := cp.Status(); len(st.Rejected) != 2 {
		t.Errorf("Status().Rejected = %v", st.Rejected)
	}

	// A new version that does not start: the previous one keeps serving.
	write("upgraded", "bad", "FAIL_CLOSE")
	by = report(func(by map[string]server.ExtensionReport) bool {
		return by["istio-system/upgraded"].State == server.StateStale
	})
	if x := by["istio-system/upgraded"]; len(x.Errors) != 1 || !strings.Contains(x.Errors[0], "module does not start") ||
		!strings.Contains(x.Errors[0], "the previous version keeps serving") || x.Module == nil || x.Module.Path == "" {
		t.Errorf("upgraded: %+v", x)
	}
}
