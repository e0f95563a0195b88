package wasm

import "testing"

// TestLogPrefixes: Envoy's prefix per context, each empty part left out with its space.
func TestLogPrefixes(t *testing.T) {
	tests := []struct {
		name, plugin, root, vmID string
		vm, rootCtx, stream      string
	}{
		{"every part", "ns.p", "root", "vm1", "wasm log: ", "wasm log root vm1: ", "wasm log ns.p root vm1: "},
		{"no vm id", "ns.p", "root", "", "wasm log: ", "wasm log root: ", "wasm log ns.p root: "},
		{"no root id", "ns.p", "", "vm1", "wasm log: ", "wasm log vm1: ", "wasm log ns.p vm1: "},
		{"name only", "ns.p", "", "", "wasm log: ", "wasm log: ", "wasm log ns.p: "},
		{"nothing", "", "", "", "wasm log: ", "wasm log: ", "wasm log: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLogPrefixes(tt.plugin, tt.root, tt.vmID)
			if got := l.of(false, false); got != tt.vm {
				t.Errorf("VM context %q, want %q", got, tt.vm)
			}
			if got := l.of(false, true); got != tt.rootCtx {
				t.Errorf("root context %q, want %q", got, tt.rootCtx)
			}
			if got := l.of(true, true); got != tt.stream {
				t.Errorf("stream context %q, want %q", got, tt.stream)
			}
		})
	}
}
