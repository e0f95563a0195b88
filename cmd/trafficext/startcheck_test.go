package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trafficext/trafficext/engine/wasm/startcheck"
	"github.com/trafficext/trafficext/engine/wasm/wasmtest"
	"github.com/trafficext/trafficext/xds/fetch"
	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/source"
)

// The control plane's module stage with the engine's start check, as run and xds wire it:
// each kind of module that does not start is rejected with its reason, and a version that
// starts is served.
func TestResolverWithStartCheck(t *testing.T) {
	start := wasmtest.C(t, "start", "")
	badImport := wasmtest.C(t, "badimport", "")
	b, err := os.ReadFile(start.Path)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(t.TempDir(), "truncated.wasm")
	if err := os.WriteFile(truncated, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := fetch.New(fetch.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	r := fetch.NewResolver(f, fetch.ResolverOptions{
		SyncWait:     10 * time.Second,
		StartChecker: startcheck.New(startcheck.Options{Timeout: 500 * time.Millisecond, CacheDir: "-"}),
	})
	defer r.Close()
	tests := []struct {
		name, file, root, want string // want "": starts
	}{
		{"starts", start.Path, "ok", ""},
		{"trap-in-vm-start", start.Path, "trap-in-vm-start", "module does not start: proxy_on_vm_start: wasm error: unreachable"},
		{"trap-in-configure", start.Path, "trap-in-configure", "module does not start: proxy_on_configure: wasm error: unreachable"},
		{"configure-returns-false", start.Path, "refuse-configure", "module does not start: proxy_on_configure returned false"},
		{"unknown-import", badImport.Path, "ok", "module does not start: imports unknown function env.trafficext_no_such_function"},
		{"truncated", truncated, "ok", "module does not start: module sha256["},
		{"loop-in-vm-start", start.Path, "loop-in-vm-start", "module does not start: proxy_on_vm_start did not return within the start bound"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := "apiVersion: extensions.istio.io/v1alpha1\nkind: TrafficExtension\nmetadata: {name: " + tc.name + ", namespace: istio-system}\n" +
				"spec:\n  wasm:\n    url: file://" + tc.file + "\n    pluginName: " + tc.root + "\n    failStrategy: FAIL_CLOSE\n"
			exts, _, err := source.Decode("x.yaml", []byte(doc))
			if err != nil || len(exts) != 1 {
				t.Fatalf("decoding: %v", err)
			}
			exts[0].ResourceVersion = "1"
			began := time.Now()
			out := r.Prepare(exts, nil)
			t.Logf("checked in %v", time.Since(began))
			if tc.want == "" {
				if len(out.Problems) != 0 || len(out.Rejected) != 0 {
					t.Fatalf("problems %v rejected %v", out.Problems, out.Rejected)
				}
				if _, sha, err := r.Resolve(exts[0]); err != nil || sha != digest(t, tc.file) {
					t.Fatalf("Resolve: %s %v", sha, err)
				}
				return
			}
			if len(out.Rejected) != 1 || out.Rejected[0] != (model.Key{Namespace: "istio-system", Name: tc.name}) || len(out.Problems) != 1 {
				t.Fatalf("rejected %v problems %v", out.Rejected, out.Problems)
			}
			msg := out.Problems[0].Error()
			t.Log(msg)
			if prefix := "x.yaml: istio-system/" + tc.name + ": spec.wasm.url: " + tc.want; !strings.HasPrefix(msg, prefix) {
				t.Fatalf("problem %q\nwant prefix %q", msg, prefix)
			}
			note := "" // a start cut off by the bound is checked again (a busy host may have caused it)
			if tc.name == "loop-in-vm-start" {
				note = " until a background start check passes"
			}
			if !strings.HasSuffix(msg, "; failStrategy FAIL_CLOSE applies"+note) || strings.Contains(msg, "\n") {
				t.Fatalf("problem %q", msg)
			}
		})
	}
}

func digest(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
