package abicodec

import (
	"bytes"
	"testing"

	"github.com/trafficext/trafficext/core"
)

// AppendPairs reuses a buffer that held an earlier, longer serialization: the result must be
// exactly EncodePairs' (NUL terminators included), whatever the buffer held.
func TestAppendPairsReusesBuffer(t *testing.T) {
	long := []core.Header{{Key: "x-long-header-name", Value: "a long long value"}, {Key: "k", Value: "v"}, {Key: "other", Value: "x"}}
	tests := []struct {
		name string
		hs   []core.Header
		dst  []byte
	}{
		{name: "nil buffer", hs: []core.Header{{Key: "a", Value: "b"}}},
		{name: "empty map, dirty buffer", dst: EncodePairs(long)},
		{name: "shorter map, dirty buffer", hs: []core.Header{{Key: "k", Value: ""}, {Key: "", Value: "v"}}, dst: EncodePairs(long)},
		{name: "longer map, small buffer", hs: long, dst: make([]byte, 3, 8)},
		{name: "buffer of 0xff", hs: long, dst: bytes.Repeat([]byte{0xff}, 200)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := AppendPairs(tc.dst, tc.hs)
			if want := EncodePairs(tc.hs); !bytes.Equal(got, want) {
				t.Fatalf("appendPairs = %x, want %x", got, want)
			}
			back, err := DecodePairs(got)
			if err != nil || len(back) != len(tc.hs) {
				t.Fatalf("decodePairs: %v, %d entries, want %d", err, len(back), len(tc.hs))
			}
		})
	}
}

func TestDecodePairs(t *testing.T) {
	in := []core.Header{{Key: "a", Value: "1"}, {Key: "b", Value: "22"}}
	b := EncodePairs(in)
	want := "\x02\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00a\x001\x00b\x0022\x00"
	if string(b) != want {
		t.Fatalf("encode %q", b)
	}
	out, err := DecodePairs(b)
	if err != nil || len(out) != 2 || out[1] != in[1] {
		t.Fatalf("decode %v %v", out, err)
	}
	for _, empty := range [][]byte{nil, {0}, {0, 0, 0, 0}} {
		if out, err := DecodePairs(empty); err != nil || len(out) != 0 {
			t.Fatalf("empty %v: %v %v", empty, out, err)
		}
	}
	if _, err := DecodePairs([]byte{5, 0, 0, 0}); err == nil {
		t.Fatal("truncated map accepted")
	}
}

func FuzzDecodePairs(f *testing.F) {
	f.Add(EncodePairs([]core.Header{{Key: "k", Value: "v"}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		hs, err := DecodePairs(b)
		if err != nil {
			return
		}
		if again, err := DecodePairs(EncodePairs(hs)); err != nil || len(again) != len(hs) {
			t.Fatalf("round trip: %v %v", again, err)
		}
	})
}
