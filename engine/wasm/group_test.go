package wasm

import (
	"testing"

	"github.com/trafficext/trafficext/engine/wasm/wasmtest"
	"github.com/trafficext/trafficext/extconfig"
)

func onVM(name, vmID, cfg string) func(*extconfig.Extension) {
	return func(x *extconfig.Extension) {
		x.Name = "extensions.istio.io/trafficextension/ns." + name
		x.Wasm.VMID = vmID
		x.Wasm.PluginConfig = []byte(cfg)
	}
}

// TestEngine_SharedVM: plugins with the same vm_id, module and VM configuration share one VM
// (root contexts 1 and 2 from one context counter, VM globals seen by both); another vm_id
// gets its own; a trap replaces the shared VM for both plugins; the VM outlives the first
// plugin to close and goes with the last.
func TestEngine_SharedVM(t *testing.T) {
	e := New(Options{CacheDir: cacheDirForTests(), MaxVMsPerPlugin: 1})
	g := wasmtest.Go(t, "vmshare")
	a, _ := load(t, e, g, onVM("a", "shared", "a"))
	b, _ := load(t, e, g, onVM("b", "shared", "b"))
	c, _ := load(t, e, g, onVM("c", "other", "a"))
	pa, pb, pc := a.(*plugin), b.(*plugin), c.(*plugin)
	if pa.g != pb.g || pa.g == pc.g || len(pa.g.snapshot()) != 1 {
		t.Fatalf("groups: a %p b %p c %p, %d VMs of a", pa.g, pb.g, pc.g, len(pa.g.snapshot()))
	}
	for _, tc := range []struct {
		p    *plugin
		want map[string]string
	}{
		{pa, map[string]string{"x-a-root": "1", "x-a-roots": "2"}},
		{pb, map[string]string{"x-b-root": "2", "x-b-roots": "2", "x-b-after-a": "1"}},
		{pc, map[string]string{"x-a-root": "1", "x-a-roots": "1"}},
	} {
		o := drive(t, tc.p, request{})
		for k, want := range tc.want {
			if got := header(o.respH, k); got != want {
				t.Errorf("%s: %s = %q, want %q", tc.p.ext.Name, k, got, want)
			}
		}
	}
	a.Close()
	if o := drive(t, pb, request{}); header(o.respH, "x-b-root") != "2" || len(pb.g.snapshot()) != 1 {
		t.Fatalf("after the first plugin closed: x-b-root %q, %d VMs", header(o.respH, "x-b-root"), len(pb.g.snapshot()))
	}
	b.Close()
	e.mu.Lock()
	_, left := e.groups[pb.g.key]
	e.mu.Unlock()
	if left || !pb.g.ended {
		t.Fatalf("after the last plugin closed: group still registered %v, ended %v", left, pb.g.ended)
	}

	f := wasmtest.C(t, "fault", "")
	fa, _ := load(t, e, f, onVM("fa", "faults", ""))
	fb, _ := load(t, e, f, onVM("fb", "faults", ""))
	for i, step := range []struct {
		p     any
		fault bool
		want  string // x-vm-requests: the VM's requests of both plugins
	}{{fa, false, "1"}, {fb, false, "2"}, {fa, true, ""}, {fb, false, "1"}, {fa, false, "2"}} {
		r := request{}
		if step.fault {
			r.headers = []string{"x-fault", "trap"}
		}
		o := drive(t, step.p.(*plugin), r)
		if step.fault {
			if o.reply == nil || o.reply.Status != 503 {
				t.Fatalf("step %d: trap reply %+v", i, o.reply)
			}
			continue
		}
		if got := header(o.respH, "x-vm-requests"); got != step.want {
			t.Fatalf("step %d: x-vm-requests %q, want %s", i, got, step.want)
		}
	}
}
