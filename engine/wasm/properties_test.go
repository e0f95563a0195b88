package wasm

import (
	"bytes"
	"strings"
	"testing"
)

// propsVM is a VM whose effective context is a stream context on s in callback cb, enough
// for property lookups.
func propsVM(s *fakeStream, cb callback) *vm {
	v := &vm{}
	r := &rootCtx{v: v, p: &plugin{}, tokens: [3]any{"plug", "root", "vmid"}}
	v.cur.root = r
	v.cur.filter = &filter{v: v, r: r, s: s, cb: cb}
	return v
}

// walkedProperty is the generic walk (every segment through topValue and the maps it
// returns), against which the direct lookups of propertyValue are checked.
func walkedProperty(v *vm, path string) (any, bool) {
	parts := strings.Split(path, "\x00")
	val, ok := v.topValue(parts[0])
	for _, part := range parts[1:] {
		if !ok {
			return nil, false
		}
		val, ok = step(val, part)
	}
	if !ok {
		return nil, false
	}
	return val, true
}

func propsStream() *fakeStream {
	s := newFakeStream()
	s.ReqH = newMap(":path", "/p", "x-multi", "a", "x-multi", "b", "x-one", "1", "x-multi", "c")
	s.RespH = newMap(":status", "200", "grpc-status", "3")
	s.RespT = newMap("x-trailer", "t")
	s.Attrs["request.path"] = "/p"
	s.Attrs["source.port"] = int64(5555)
	return s
}

func TestProperty_DirectLookups(t *testing.T) {
	for _, tc := range []struct {
		path string
		cb   callback
		want string // "" with found false
		ok   bool
	}{
		{"request\x00headers\x00x-one", cbRequestHeaders, "1", true},
		{"request\x00headers\x00X-ONE", cbRequestHeaders, "1", true},
		{"request\x00headers\x00x-multi", cbRequestHeaders, "a,b,c", true},
		{"request\x00headers\x00x-absent", cbRequestHeaders, "", false},
		{"request\x00headers\x00x-one\x00deeper", cbRequestHeaders, "", false},
		{"request\x00headers\x00", cbRequestHeaders, "", false},
		{"request\x00headers\x00x-one", cbResponseHeaders, "", false}, // not live
		{"request\x00headers\x00x-one", cbLog, "1", true},
		{"response\x00headers\x00grpc-status", cbResponseHeaders, "3", true},
		{"response\x00trailers\x00x-trailer", cbResponseTrailers, "t", true},
		{"response\x00trailers\x00x-trailer", cbResponseHeaders, "", false},
		{"request\x00trailers\x00x", cbRequestHeaders, "", false},
		{"request\x00path", cbRequestHeaders, "/p", true},
		{"request\x00path\x00x", cbRequestHeaders, "", false},
		{"source\x00port", cbRequestHeaders, "\xb3\x15\x00\x00\x00\x00\x00\x00", true},
		{"response\x00grpc_status", cbResponseHeaders, "\x03\x00\x00\x00\x00\x00\x00\x00", true},
		{"plugin_name", cbNone, "plug", true},
		{"plugin_vm_id", cbNone, "vmid", true},
		{"nothing", cbNone, "", false},
	} {
		v := propsVM(propsStream(), tc.cb)
		got, st := v.property(tc.path)
		if tc.ok != (st == statusOK) || string(got) != tc.want {
			t.Errorf("%q: %q, %v; want %q (found %v)", tc.path, got, st, tc.want, tc.ok)
		}
		// The direct lookups answer what walking the maps answers.
		walked, wok := walkedProperty(v, tc.path)
		var wb []byte
		if wok {
			wb, wok = serializeValue(walked)
		}
		if wok != (st == statusOK) || !bytes.Equal(wb, got) {
			t.Errorf("%q: direct %q (%v), walked %q (%v)", tc.path, got, st, wb, wok)
		}
	}
}

// FuzzPropertyPath: a property path from the guest never panics, and the direct lookups
// agree with the generic walk.
func FuzzPropertyPath(f *testing.F) {
	for _, p := range []string{"request\x00headers\x00x-one", "request\x00path", "response\x00trailers\x00x-trailer\x00",
		"plugin_name", "request\x00headers", "source\x00port\x00", "\x00", ""} {
		f.Add([]byte(p), uint8(cbRequestHeaders))
	}
	f.Fuzz(func(t *testing.T, raw []byte, cb uint8) {
		v := propsVM(propsStream(), callback(cb%uint8(cbLog+1)))
		path := pathString(raw)
		got, st := v.property(path)
		walked, ok := walkedProperty(v, path)
		if ok {
			var b []byte
			b, ok = serializeValue(walked)
			if ok && (st != statusOK || !bytes.Equal(b, got)) {
				t.Fatalf("%q: direct %q (%v), walked %q", path, got, st, b)
			}
		}
		if !ok && st == statusOK {
			t.Fatalf("%q: direct %q, walked nothing", path, got)
		}
	})
}
