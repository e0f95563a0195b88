package wasm

import (
	"testing"
	"time"

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

// TestEngine_LateMetricPlainInNextConfig: a metric first defined on the request path is a
// late (labeled) stat of the configuration that saw it; the next configuration of the same
// VM group (an update) has it as a plain stat of its own name, which catches up with the
// value reached so far at its first stream event.
func TestEngine_LateMetricPlainInNextConfig(t *testing.T) {
	e := New(Options{CacheDir: cacheDirForTests(), MaxVMsPerPlugin: 1})
	g := wasmtest.Go(t, "labelmetrics")
	const late = "custom_header_value_counts_value=foo_reporter=wasmgosdk"
	loadOn := func(cfg string) (*plugin, *labeledHost) {
		h := &labeledHost{fakeHost: &fakeHost{}}
		ext := &extconfig.Extension{Schema: extconfig.SchemaVersion, Name: "extensions.istio.io/trafficextension/ns.lm",
			Wasm: &extconfig.Wasm{Path: g.Path, SHA256: g.SHA256, PluginName: "root", VMID: "lm", PluginConfig: []byte(cfg)}}
		p, err := e.Load(ext, h)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		return p.(*plugin), h
	}
	v1, h1 := loadOn("v1")
	for i := 0; i < 3; i++ {
		drive(t, v1, request{headers: []string{"my-custom-header", "foo"}})
	}
	if id := h1.ID(late); id != 0 {
		t.Fatalf("v1 defined %s as a plain stat (%d) after load", late, id)
	}
	v2, h2 := loadOn("v2")
	if v2.g != v1.g {
		t.Fatal("the update did not join the VM group")
	}
	v1.Close()
	o := drive(t, v2, request{headers: []string{"my-custom-header", "foo"}})
	id := h2.ID(late)
	if id == 0 {
		t.Fatalf("v2 has no plain stat %s: %v", late, h2.Names)
	}
	if got := o.s.Counters[id]; got != 4 {
		t.Fatalf("v2's %s: %d, want 4 (3 caught up + 1)", late, got)
	}
}

type concurrencyFake struct {
	*fakeHost
	n int
}

func (h concurrencyFake) Concurrency() int { return h.n }

// TestEngine_VMPerWorkerAtLoad: with Envoy's worker count known, Load checks the plugin in a
// throwaway canary VM, starts the main VM and, in the background, one VM per worker (within
// the bound), so OnPluginStart runs 2 + workers times as on Envoy; streams run on the worker
// VMs; a plugin joining later starts in a canary and all VMs.
func TestEngine_VMPerWorkerAtLoad(t *testing.T) {
	e := New(Options{CacheDir: cacheDirForTests(), MaxVMsPerPlugin: 4})
	g := wasmtest.Go(t, "vmshare")
	loadOn := func(name, cfg string) *plugin {
		ext := &extconfig.Extension{Schema: extconfig.SchemaVersion, Name: "extensions.istio.io/trafficextension/ns." + name,
			Wasm: &extconfig.Wasm{Path: g.Path, SHA256: g.SHA256, PluginName: "root", VMID: "workers", PluginConfig: []byte(cfg)}}
		p, err := e.Load(ext, concurrencyFake{&fakeHost{}, 2})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		return p.(*plugin)
	}
	s := loadOn("s", "s")
	deadline := time.Now().Add(20 * time.Second)
	for len(s.g.snapshot()) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d VMs, want the main one and 2 workers'", len(s.g.snapshot()))
		}
		time.Sleep(10 * time.Millisecond)
	}
	o := drive(t, s, request{})
	if got := header(o.respH, "x-s-starts"); got != "4" {
		t.Errorf("x-s-starts %q, want 4 (canary, main, 2 workers)", got)
	}
	if len(s.g.snapshot()) != 3 {
		t.Errorf("%d VMs after a stream, want 3", len(s.g.snapshot()))
	}
	f := s.NewFilter(newFakeStream()).(*filter)
	if f.v == s.g.main {
		t.Error("a stream ran on the main VM while worker VMs are up")
	}
	f.OnDestroy()
	b := loadOn("b", "s")
	if got := header(drive(t, b, request{}).respH, "x-s-starts"); got != "8" {
		t.Errorf("after a second plugin joined: x-s-starts %q, want 8", got)
	}
}
