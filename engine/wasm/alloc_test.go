package wasm

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/trafficext/trafficext/engine/wasm/wasmtest"
)

// wasmModule assembles a module from its sections (id, contents), each given its size.
func wasmModule(sections ...[]byte) []byte {
	out := []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	for _, s := range sections {
		out = append(out, s[0])
		out = appendULEB(out, uint32(len(s)-1))
		out = append(out, s[1:]...)
	}
	return out
}

// appendULEB appends v as unsigned LEB128, which is protobuf's varint encoding.
func appendULEB(b []byte, v uint32) []byte { return protowire.AppendVarint(b, uint64(v)) }

// vec is a wasm vector: its length, then its items.
func vec(items ...[]byte) []byte {
	out := appendULEB(nil, uint32(len(items)))
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}

func wname(s string) []byte { return append(appendULEB(nil, uint32(len(s))), s...) }

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// body is a function body without locals.
func body(code ...byte) []byte {
	return append(appendULEB(nil, uint32(len(code)+1)), append([]byte{0}, code...)...)
}

// nestedAllocGuest is a guest whose allocator, the first time it runs, itself asks the host
// for a property (plugin_root_id) before allocating: proxy_on_request_headers gets
// plugin_name (return pointer and size at 72, 76; "ns.wasmtest" as load names it), whose allocation runs a nested
// proxy_get_property of plugin_root_id (at 64, 68). The allocator bumps from 1024.
func nestedAllocGuest(t *testing.T) wasmtest.Guest {
	const i32 = 0x7f
	mod := wasmModule(
		cat([]byte{1}, vec( // types
			[]byte{0x60, 4, i32, i32, i32, i32, 1, i32}, // 0: proxy_get_property
			[]byte{0x60, 1, i32, 1, i32},                // 1: malloc
			[]byte{0x60, 3, i32, i32, i32, 1, i32},      // 2: proxy_on_request_headers
			[]byte{0x60, 0, 0},                          // 3: ABI marker
		)),
		cat([]byte{2}, vec(cat(wname("env"), wname("proxy_get_property"), []byte{0, 0}))),
		cat([]byte{3}, vec([]byte{1}, []byte{2}, []byte{3})),
		cat([]byte{5}, vec([]byte{0, 1})),
		cat([]byte{6}, vec(
			[]byte{i32, 1, 0x41, 0, 0x0b},          // 0: nested yet
			[]byte{i32, 1, 0x41, 0x80, 0x08, 0x0b}, // 1: heap top, 1024
		)),
		cat([]byte{7}, vec(
			cat(wname("memory"), []byte{2, 0}),
			cat(wname("malloc"), []byte{0, 1}),
			cat(wname("proxy_on_request_headers"), []byte{0, 2}),
			cat(wname("proxy_abi_version_0_2_1"), []byte{0, 3}),
		)),
		cat([]byte{10}, vec(
			body( // malloc(size)
				0x23, 0, 0x45, 0x04, 0x40, // if !nested {
				0x41, 1, 0x24, 0, // nested = 1
				0x41, 16, 0x41, 14, 0x41, 0xc0, 0, 0x41, 0xc4, 0, 0x10, 0, 0x1a, // drop(proxy_get_property(16, 14, 64, 68))
				0x0b,                                     // }
				0x23, 1, 0x23, 1, 0x20, 0, 0x6a, 0x24, 1, // top; top += size
				0x0b),
			body( // proxy_on_request_headers
				0x41, 32, 0x41, 11, 0x41, 0xc8, 0, 0x41, 0xcc, 0, 0x10, 0, 0x1a, // drop(proxy_get_property(32, 11, 72, 76))
				0x41, 0, 0x0b), // Continue
			body(0x0b),
		)),
		cat([]byte{11}, vec(
			cat([]byte{0, 0x41, 16, 0x0b}, wname("plugin_root_id")),
			cat([]byte{0, 0x41, 32, 0x0b}, wname("plugin_name")),
		)),
	)
	path := filepath.Join(t.TempDir(), "nested.wasm")
	if err := os.WriteFile(path, mod, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(mod)
	return wasmtest.Guest{Lang: "wasm", Name: "nested-alloc", Path: path, SHA256: hex.EncodeToString(sum[:])}
}

// TestWriteOut_NestedAllocation: a host call made from inside the guest's allocator (which
// runs inside writeOut) gets its own allocation and value, and the outer writeOut still gets
// the allocator's result for its own value.
func TestWriteOut_NestedAllocation(t *testing.T) {
	for _, e := range []*Engine{unboundedEngine, contextEngine, testEngine} {
		p, _ := load(t, e, nestedAllocGuest(t), nil)
		s := newFakeStream()
		f := p.NewFilter(s)
		f.OnRequestHeaders(true)
		pl := p.(*plugin)
		v := pl.g.snapshot()[0]
		v.mu.Lock()
		mem := v.mod.Memory()
		read := func(at uint32) (uint32, uint32, string) {
			ptr, _ := mem.ReadUint32Le(at)
			size, _ := mem.ReadUint32Le(at + 4)
			b, _ := mem.Read(ptr, size)
			return ptr, size, string(b)
		}
		ip, is, inner := read(64)
		op, os, outer := read(72)
		v.mu.Unlock()
		f.OnDestroy()
		if ip != 1024 || is != 4 || inner != "root" {
			t.Errorf("nested plugin_root_id: at %d size %d %q; want at 1024 size 4 \"root\"", ip, is, inner)
		}
		if op != 1028 || os != 11 || outer != "ns.wasmtest" {
			t.Errorf("outer plugin_name: at %d size %d %q; want at 1028 size 11 \"ns.wasmtest\"", op, os, outer)
		}
	}
}
