//go:build conformance

package wasm_test

import (
	"testing"

	"github.com/trafficext/trafficext/engine/wasm/wasmtest"
)

// vmScenarios: plugins naming the same vm_id (same module and VM configuration) share one VM
// per worker — root contexts 1 and 2 from one context counter, VM globals seen by both — and
// plugins on different vm_ids do not; and every plugin starts once in each VM: a canary, the
// main thread's and one per worker (guest go/vmshare).
func vmScenarios(t *testing.T) []*scenario {
	g := wasmtest.Go(t, "vmshare")
	reqs := []req{{path: "/1"}, {path: "/2"}, {path: "/3"}, {path: "/4"}}
	expect := func(want map[string]string) func(*testing.T, int, resp) {
		return func(t *testing.T, i int, r resp) {
			for k, v := range want {
				if r.Headers[k] != v {
					t.Errorf("request %d: %s = %q, want %q", i, k, r.Headers[k], v)
				}
			}
		}
	}
	return []*scenario{
		{name: "vm-shared-go", plugins: []plug{{guest: g, pluginConfig: "a", vmID: "vmshare"}, {guest: g, pluginConfig: "b", vmID: "vmshare"}},
			requests: reqs,
			check:    expect(map[string]string{"x-a-root": "1", "x-b-root": "2", "x-a-roots": "2", "x-b-roots": "2", "x-b-after-a": "1"})},
		{name: "vm-separate-go", plugins: []plug{{guest: g, pluginConfig: "a", vmID: "vmsep-a"}, {guest: g, pluginConfig: "b", vmID: "vmsep-b"}},
			requests: reqs,
			check:    expect(map[string]string{"x-a-root": "1", "x-b-root": "1", "x-a-roots": "1", "x-b-roots": "1", "x-b-after-a": "0"})},
		// OnPluginStart runs once per VM: the canary that checks the configuration, the main
		// thread's VM and one per worker (--concurrency 2): 4.
		{name: "plugin-starts-go", plugins: []plug{{guest: g, pluginConfig: "s", vmID: "starts"}},
			requests: reqs[:2],
			check:    expect(map[string]string{"x-s-root": "1", "x-s-starts": "4"})},
	}
}
