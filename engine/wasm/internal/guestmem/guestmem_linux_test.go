package guestmem

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/tetratelabs/wazero"
)

const wasmPage = 65536

func TestMmapMemory_GrowsInPlace(t *testing.T) {
	tests := []struct {
		name  string
		max   uint64
		sizes []uint64 // successive Reallocate sizes
		fail  int      // index of the size that must fail (-1: none)
	}{
		{"grow page by page", 4 * wasmPage, []uint64{wasmPage, 2 * wasmPage, 3 * wasmPage, 4 * wasmPage}, -1},
		{"same size again", 2 * wasmPage, []uint64{wasmPage, wasmPage, 2 * wasmPage}, -1},
		{"beyond the maximum", 2 * wasmPage, []uint64{wasmPage, 3 * wasmPage}, 1},
		{"empty then grown", 2 * wasmPage, []uint64{0, 2 * wasmPage}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lm := mmapAllocator{}.Allocate(0, tt.max)
			if _, ok := lm.(*mmapMemory); !ok {
				t.Fatalf("Allocate returned %T, want *mmapMemory", lm)
			}
			defer lm.Free()
			var base unsafe.Pointer
			var prev uint64
			for i, size := range tt.sizes {
				b := lm.Reallocate(size)
				if i == tt.fail {
					if b != nil {
						t.Fatalf("Reallocate(%d) over max %d = %d bytes, want nil", size, tt.max, len(b))
					}
					continue
				}
				if b == nil || uint64(len(b)) != size {
					t.Fatalf("Reallocate(%d) = %d bytes (nil %v)", size, len(b), b == nil)
				}
				if size == 0 {
					continue
				}
				if base == nil {
					base = unsafe.Pointer(&b[0])
				} else if p := unsafe.Pointer(&b[0]); p != base {
					t.Fatalf("Reallocate(%d) moved the memory from %p to %p", size, base, p)
				}
				// What was written before the grow is still there; the new part is zero and writable.
				for off := uint64(0); off < prev; off += wasmPage {
					if b[off] != byte(off/wasmPage+1) {
						t.Fatalf("byte %d = %d after grow, want %d", off, b[off], off/wasmPage+1)
					}
				}
				for off := prev; off < size; off += wasmPage {
					if b[off] != 0 {
						t.Fatalf("new byte %d = %d, want 0", off, b[off])
					}
					b[off] = byte(off/wasmPage + 1)
				}
				b[size-1] = 0xff
				b[size-1] = 0
				prev = size
			}
		})
	}
}

func TestMmapMemory_FreeIsFinal(t *testing.T) {
	lm := mmapAllocator{}.Allocate(0, 2*wasmPage)
	if b := lm.Reallocate(wasmPage); len(b) != wasmPage {
		t.Fatalf("Reallocate = %d bytes", len(b))
	}
	lm.Free()
	lm.Free() // idempotent
	if b := lm.Reallocate(wasmPage); b != nil {
		t.Fatalf("Reallocate after Free = %d bytes, want nil", len(b))
	}
}

// Only touched pages are resident: reserving 1 GiB and growing to 64 MiB costs what the guest
// wrote, not the size of the memory.
func TestMmapMemory_OnlyTouchedPagesResident(t *testing.T) {
	const maxBytes, size, touched = 1 << 30, 64 << 20, 1 << 20
	lm := mmapAllocator{}.Allocate(0, maxBytes)
	defer lm.Free()
	b := lm.Reallocate(size)
	if len(b) != size {
		t.Fatalf("Reallocate = %d bytes", len(b))
	}
	for i := 0; i < touched; i += int(pageSize) {
		b[i] = 1
	}
	rss := mappingRSS(t, uintptr(unsafe.Pointer(&b[0])))
	if rss < touched || rss > touched+256<<10 {
		t.Fatalf("resident %d KiB of a %d MiB memory after touching %d KiB", rss>>10, size>>20, touched>>10)
	}
}

// mappingRSS returns the Rss of the mapping of this process that starts at addr.
func mappingRSS(t *testing.T, addr uintptr) uint64 {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	want := fmt.Sprintf("%x-", addr)
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, want) {
			in = true
			continue
		}
		if in && strings.HasPrefix(line, "Rss:") {
			kb, err := strconv.ParseUint(strings.Fields(line)[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no mapping at %#x in /proc/self/smaps", addr)
	return 0
}

// growModule is (module (memory (export "memory") 1 8)
// (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)).
var growModule = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
	0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f, // type: (i32) -> i32
	0x03, 0x02, 0x01, 0x00, // func 0: type 0
	0x05, 0x04, 0x01, 0x01, 0x01, 0x08, // memory min 1 max 8
	0x07, 0x11, 0x02, 0x06, 'm', 'e', 'm', 'o', 'r', 'y', 0x02, 0x00, 0x04, 'g', 'r', 'o', 'w', 0x00, 0x00,
	0x0a, 0x08, 0x01, 0x06, 0x00, 0x20, 0x00, 0x40, 0x00, 0x0b, // local.get 0; memory.grow 0
}

// A module instantiated with withLinearMemory runs on an mmap-backed memory: memory.grow keeps
// the address and the contents, fails past the declared maximum, and closing the module
// releases the mapping.
func TestWithLinearMemory_Wazero(t *testing.T) {
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	mod, err := rt.InstantiateWithConfig(WithLinearMemory(ctx), growModule, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatal(err)
	}
	mem := mod.Memory()
	view, _ := mem.Read(0, 1)
	base := uintptr(unsafe.Pointer(&view[0]))
	if rss := mappingRSS(t, base); rss > wasmPage {
		t.Fatalf("fresh one-page memory has %d bytes resident", rss)
	}
	mem.WriteUint32Le(100, 0xdeadbeef)
	grow := mod.ExportedFunction("grow")
	for _, tt := range []struct{ delta, want uint64 }{{3, 1}, {4, 4}, {1, 0xffffffff}} {
		r, err := grow.Call(ctx, tt.delta)
		if err != nil {
			t.Fatal(err)
		}
		if uint32(r[0]) != uint32(tt.want) {
			t.Fatalf("memory.grow(%d) = %d, want %d", tt.delta, int32(r[0]), int32(tt.want))
		}
	}
	if mem.Size() != 8*wasmPage {
		t.Fatalf("memory size %d, want 8 pages", mem.Size())
	}
	view, _ = mem.Read(0, 1)
	if p := uintptr(unsafe.Pointer(&view[0])); p != base {
		t.Fatalf("memory moved from %#x to %#x", base, p)
	}
	if v, _ := mem.ReadUint32Le(100); v != 0xdeadbeef {
		t.Fatalf("word at 100 = %#x after grow", v)
	}
	if !mem.WriteUint32Le(8*wasmPage-4, 7) {
		t.Fatal("cannot write the last word of the grown memory")
	}
	if err := mod.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if mappedAt(t, base) {
		t.Fatalf("memory at %#x still mapped after the module closed", base)
	}
}

func mappedAt(t *testing.T, addr uintptr) bool {
	m, err := Mapped(addr)
	if err != nil {
		t.Skip(err)
	}
	return m
}
