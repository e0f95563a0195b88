package startcheck

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trafficext/trafficext/engine/wasm/wasmtest"
	"github.com/trafficext/trafficext/extconfig"
)

// module writes b as a module file and returns its extconfig form.
func module(t *testing.T, b []byte) extconfig.Wasm {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.wasm")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return extconfig.Wasm{Path: p, SHA256: hex.EncodeToString(sum[:])}
}

func TestCheckStart(t *testing.T) {
	start := wasmtest.C(t, "start", "")
	bad := wasmtest.C(t, "badimport", "")
	startBytes, err := os.ReadFile(start.Path)
	if err != nil {
		t.Fatal(err)
	}
	guest := extconfig.Wasm{Path: start.Path, SHA256: start.SHA256}
	c := New(Options{Timeout: 500 * time.Millisecond, CacheDir: "-"})
	tests := []struct {
		name string
		w    extconfig.Wasm
		root string
		want string // "" : starts
	}{
		{"starts", guest, "ok", ""},
		{"trap in vm_start", guest, "trap-in-vm-start", "proxy_on_vm_start: wasm error: unreachable"},
		{"trap in configure", guest, "trap-in-configure", "proxy_on_configure: wasm error: unreachable"},
		{"configure returns false", guest, "refuse-configure", "proxy_on_configure returned false"},
		{"loop in vm_start", guest, "loop-in-vm-start", "did not return within the start bound"},
		{"unknown import", extconfig.Wasm{Path: bad.Path, SHA256: bad.SHA256}, "ok", "imports unknown function env.trafficext_no_such_function"},
		{"truncated", module(t, startBytes[:len(startBytes)/2]), "ok", "malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.w
			w.PluginName = tc.root
			ext := &extconfig.Extension{Name: "extensions.istio.io/trafficextension/ns.x", FailStrategy: extconfig.FailClose, Wasm: &w}
			began := time.Now()
			err := c.CheckStart(context.Background(), ext)
			if d := time.Since(began); d > 10*time.Second {
				t.Errorf("the check took %v", d)
			}
			if tc.want == "" {
				if err != nil {
					t.Fatalf("CheckStart: %v", err)
				}
				return
			}
			var se *Error
			if err == nil || !errors.As(err, &se) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckStart = %v, want an *Error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("the reason spans lines: %q", err)
			}
			// Only a start cut off by the bound may pass another time: it alone is not cached.
			timeout := tc.root == "loop-in-vm-start"
			c.mu.Lock()
			_, cached := c.results[cacheKey(&w)]
			c.mu.Unlock()
			if IsTimeout(err) != timeout || cached == timeout {
				t.Errorf("IsTimeout %v, cached %v", IsTimeout(err), cached)
			}
		})
	}
}

// A result is cached by (digest, configuration): the same start configuration is not loaded
// again, another root id is.
func TestCheckStart_CachedByDigestAndConfig(t *testing.T) {
	start := wasmtest.C(t, "start", "")
	b, err := os.ReadFile(start.Path)
	if err != nil {
		t.Fatal(err)
	}
	w := module(t, b)
	c := New(Options{Timeout: time.Second, CacheDir: "-"})
	check := func(root string) error {
		x := w
		x.PluginName = root
		return c.CheckStart(context.Background(), &extconfig.Extension{Name: "extensions.istio.io/trafficextension/ns.x", Wasm: &x})
	}
	if err := check("refuse-configure"); err == nil {
		t.Fatal("refuse-configure started")
	}
	// The file goes away: a cached result needs no load, an uncached one fails to read it.
	if err := os.Remove(w.Path); err != nil {
		t.Fatal(err)
	}
	if err := check("refuse-configure"); err == nil || !strings.Contains(err.Error(), "returned false") {
		t.Fatalf("cached result: %v", err)
	}
	if err := check("ok"); err == nil || !strings.Contains(err.Error(), "reading module") {
		t.Fatalf("another configuration was not loaded again: %v", err)
	}
	if len(c.results) != 2 {
		t.Errorf("%d results cached, want 2", len(c.results))
	}
}
