//go:build conformance

package wasm_test

import (
	"bytes"
	"context"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trafficext/trafficext/engine/wasm/wasmtest"
	"github.com/trafficext/trafficext/extconfig"
	"github.com/trafficext/trafficext/internal/envoyproc"
)

// TestEnvoy_LogLinesMatchV8: the logprefix guest logs from its VM context, its root context
// and a stream context, on our host and on Envoy's V8 filter, for plugins with and without a
// name, a root id and a VM id; the distinct log lines of both sides must be the same bytes
// (Envoy's "wasm log<parts>: <message>").
func TestEnvoy_LogLinesMatchV8(t *testing.T) {
	requireEnvoy(t)
	g := wasmtest.Go(t, "logprefix")
	variants := []struct{ id, name, root, vmID string }{
		{"full", "ns.full", "root", "vm-full"},
		{"novm", "ns.novm", "root", ""},
		{"noroot", "ns.noroot", "", "vm-noroot"},
		{"bare", "", "", ""},
	}
	up := upstream(t)
	adminPort := freePort(t)
	var listeners []any
	var ports [][2]int
	for _, v := range variants {
		cfg, vmCfg := "cfg-"+v.id, "vmcfg-"+v.id
		ext := extconfig.Extension{Name: "extensions.istio.io/trafficextension/" + v.name, Wasm: &extconfig.Wasm{
			Path: g.Path, SHA256: g.SHA256, PluginName: v.root, VMID: v.vmID, PluginConfig: []byte(cfg), VMConfig: []byte(vmCfg)}}
		raw, err := extconfig.Marshal(&ext)
		if err != nil {
			t.Fatal(err)
		}
		ours := map[string]any{
			"@type":                 "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter",
			"dynamic_module_config": map[string]any{"name": "trafficext", "do_not_close": true},
			"filter_name":           "trafficext",
			"filter_config":         stringValue(string(raw)),
		}
		v8 := map[string]any{
			"@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
			"config": map[string]any{
				"name": v.name, "root_id": v.root, "configuration": stringValue(cfg),
				"vm_config": map[string]any{
					"vm_id": v.vmID, "runtime": "envoy.wasm.runtime.v8",
					"code":          map[string]any{"local": map[string]any{"filename": g.Path}},
					"configuration": stringValue(vmCfg),
				},
			},
		}
		pr := [2]int{freePort(t), freePort(t)}
		ports = append(ports, pr)
		listeners = append(listeners,
			map[string]any{"name": "log-ours-" + v.id, "address": addr(pr[0]), "filter_chains": []any{map[string]any{"filters": []any{
				hcm("log_ours_"+v.id, []any{map[string]any{"name": "ours-" + v.id, "typed_config": ours}})}}}},
			map[string]any{"name": "log-v8-" + v.id, "address": addr(pr[1]), "filter_chains": []any{map[string]any{"filters": []any{
				hcm("log_v8_"+v.id, []any{map[string]any{"name": "v8-" + v.id, "typed_config": v8}})}}}})
	}
	var log syncBuffer
	releasePorts()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := envoyproc.Start(ctx, envoyproc.Options{Bootstrap: bootstrap(t, listeners, adminPort, up), AdminPort: adminPort,
		Concurrency: 1, LogLevel: "warning", Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	for _, pr := range ports {
		for _, port := range pr {
			if r := do(t, port, req{path: "/logged"}); r.Status != 200 {
				t.Fatalf("status %d: %+v", r.Status, r)
			}
		}
	}
	var ours, v8 []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		ours, v8 = guestLines(log.String())
		if len(v8) >= 1+3*len(variants) && len(ours) >= len(v8) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(v8) < 1+3*len(variants) {
		t.Fatalf("V8 logged %d distinct guest lines, want %d:\n%s", len(v8), 1+3*len(variants), strings.Join(v8, "\n"))
	}
	if !slices.Equal(ours, v8) {
		t.Errorf("log lines differ:\n--- ours\n%s\n--- V8\n%s", strings.Join(ours, "\n"), strings.Join(v8, "\n"))
	}
	t.Logf("%d distinct lines, identical:\n%s", len(v8), strings.Join(v8, "\n"))
}

// logLine is one Envoy log line: the logger ([wasm] for V8, [dynamic_modules] for ours) and
// the message after the source location.
var logLine = regexp.MustCompile(`\]\[(wasm|dynamic_modules)\] \[[^\]]*\] (wasm log.*logprefix .*)$`)

// guestLines are the distinct guest log lines of each side, sorted.
func guestLines(log string) (ours, v8 []string) {
	for _, l := range strings.Split(log, "\n") {
		m := logLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		if m[1] == "wasm" {
			v8 = append(v8, m[2])
		} else {
			ours = append(ours, m[2])
		}
	}
	slices.Sort(ours)
	slices.Sort(v8)
	return slices.Compact(ours), slices.Compact(v8)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
