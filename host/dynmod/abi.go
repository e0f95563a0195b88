package dynmod

/*
#cgo linux LDFLAGS: -Wl,--unresolved-symbols=ignore-all
#include "abi_decls.h"
*/
import "C"

import (
	"github.com/trafficext/trafficext/core"

	"unsafe"
)

// abiVersion is the dynamic-modules ABI version this binding speaks (Envoy 1.38 and later
// compare it with their own at load and log it as matched, deprecated or mismatched; Envoy
// 1.39 speaks v0.1.0). The conformance test TestABIVersionMatched loads the module into the
// real binary and requires "matched".
const abiVersion = "v0.1.0"

// cstr passes a Go string to Envoy without copying; Envoy reads it during the call only.
func cstr(s string) (*C.char, C.size_t) {
	if len(s) == 0 {
		return nil, 0
	}
	return (*C.char)(unsafe.Pointer(unsafe.StringData(s))), C.size_t(len(s))
}

// buf passes a Go string to Envoy as an ABI buffer, without copying (as cstr).
func buf(s string) C.tx_buffer {
	p, n := cstr(s)
	return C.tx_buffer{ptr: p, length: n}
}

// bufValue is buf for a value Envoy must see as present even when empty: a valid pointer
// with length 0 (a NULL pointer means "no value" to several callbacks).
func bufValue(s string) C.tx_buffer {
	b := buf(s)
	if b.ptr == nil {
		b.ptr = (*C.char)(unsafe.Pointer(&emptyByte))
	}
	return b
}

// bufBytes is buf for a byte slice.
func bufBytes(b []byte) C.tx_buffer {
	p, n := cbytes(b)
	return C.tx_buffer{ptr: p, length: n}
}

var emptyByte byte

// cbytes is cstr for a byte slice.
func cbytes(b []byte) (*C.char, C.size_t) {
	if len(b) == 0 {
		return nil, 0
	}
	return (*C.char)(unsafe.Pointer(unsafe.SliceData(b))), C.size_t(len(b))
}

// gostr copies Envoy-owned bytes into a Go string.
func gostr(p *C.char, n C.size_t) string {
	if p == nil || n == 0 {
		return ""
	}
	return C.GoStringN(p, C.int(n))
}

// cview is a string viewing Envoy-owned bytes without copying them: valid only while Envoy
// keeps them (during the current call into Envoy's object).
func cview(p *C.char, n C.size_t) string {
	if p == nil || n == 0 {
		return ""
	}
	return unsafe.String((*byte)(unsafe.Pointer(p)), int(n))
}

// cheaders copies headers into one C allocation that Envoy may read during a call; the
// returned function frees it.
func cheaders(hs []core.Header) (*C.tx_header, C.size_t, func()) {
	if len(hs) == 0 {
		return nil, 0, func() {}
	}
	size := 0
	for _, h := range hs {
		size += len(h.Key) + len(h.Value)
	}
	arr := (*C.tx_header)(C.malloc(C.size_t(len(hs)) * C.size_t(unsafe.Sizeof(C.tx_header{}))))
	data := (*C.char)(C.malloc(C.size_t(size + 1)))
	entries := unsafe.Slice(arr, len(hs))
	buf := unsafe.Slice((*byte)(unsafe.Pointer(data)), size+1)
	off := 0
	for i, h := range hs {
		k := copy(buf[off:], h.Key)
		entries[i].key_ptr = (*C.char)(unsafe.Pointer(&buf[off]))
		entries[i].key_length = C.size_t(k)
		off += k
		v := copy(buf[off:], h.Value)
		entries[i].value_ptr = (*C.char)(unsafe.Pointer(&buf[off]))
		entries[i].value_length = C.size_t(v)
		off += v
	}
	return arr, C.size_t(len(hs)), func() { C.free(unsafe.Pointer(arr)); C.free(unsafe.Pointer(data)) }
}
