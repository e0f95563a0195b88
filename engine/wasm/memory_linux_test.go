package wasm

import (
	"testing"
	"time"
	"unsafe"

	"github.com/trafficext/trafficext/engine/wasm/internal/guestmem"
	"github.com/trafficext/trafficext/engine/wasm/wasmtest"
)

// A VM discarded after a trap or after a call that ran out of time (wazero then frees the
// memory itself, at the guest's termination check), and the VMs of a closed plugin, give
// their linear memory mapping back.
func TestEngine_DiscardedVMReleasesMemory(t *testing.T) {
	e := New(Options{CacheDir: cacheDirForTests(), CallTimeout: 200 * time.Millisecond, MaxVMsPerPlugin: 1})
	p, _ := load(t, e, wasmtest.C(t, "fault", ""), nil)
	memoryBase := func() uintptr {
		vms := p.(*plugin).g.snapshot()
		if len(vms) != 1 {
			t.Fatalf("plugin has %d VMs, want 1", len(vms))
		}
		b, ok := vms[0].mod.Memory().Read(0, 1)
		if !ok {
			t.Fatal("guest has no memory")
		}
		return uintptr(unsafe.Pointer(&b[0]))
	}
	base := memoryBase()
	for _, fault := range []string{"trap", "loop"} {
		if !mappedAt(t, base) {
			t.Fatalf("memory of the live VM at %#x is not a mapping of its own", base)
		}
		if o := drive(t, p, request{headers: []string{"x-fault", fault}}); o.reply == nil || o.reply.Status != 503 {
			t.Fatalf("%s: reply %+v, want 503", fault, o.reply)
		}
		if mappedAt(t, base) {
			t.Fatalf("%s: memory at %#x still mapped after the VM was discarded", fault, base)
		}
		if got := header(drive(t, p, request{}).respH, "x-vm-requests"); got != "1" {
			t.Fatalf("%s: next request x-vm-requests %q, want 1 (a fresh VM)", fault, got)
		}
		base = memoryBase()
	}
	p.Close()
	if mappedAt(t, base) {
		t.Fatalf("memory at %#x still mapped after the plugin closed", base)
	}
}

func mappedAt(t *testing.T, addr uintptr) bool {
	m, err := guestmem.Mapped(addr)
	if err != nil {
		t.Skip(err)
	}
	return m
}
