package wasm

import (
	"bytes"
	"testing"

	"github.com/trafficext/trafficext/core"
)

// appendPairs reuses a buffer that held an earlier, longer serialization: the result must be
// exactly encodePairs' (NUL terminators included), whatever the buffer held.
func TestAppendPairsReusesBuffer(t *testing.T) {
	long := []core.Header{{Key: "x-long-header-name", Value: "a long long value"}, {Key: "k", Value: "v"}, {Key: "other", Value: "x"}}
	tests := []struct {
		name string
		hs   []core.Header
		dst  []byte
	}{
		{name: "nil buffer", hs: []core.Header{{Key: "a", Value: "b"}}},
		{name: "empty map, dirty buffer", dst: encodePairs(long)},
		{name: "shorter map, dirty buffer", hs: []core.Header{{Key: "k", Value: ""}, {Key: "", Value: "v"}}, dst: encodePairs(long)},
		{name: "longer map, small buffer", hs: long, dst: make([]byte, 3, 8)},
		{name: "buffer of 0xff", hs: long, dst: bytes.Repeat([]byte{0xff}, 200)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := appendPairs(tc.dst, tc.hs)
			if want := encodePairs(tc.hs); !bytes.Equal(got, want) {
				t.Fatalf("appendPairs = %x, want %x", got, want)
			}
			back, err := decodePairs(got)
			if err != nil || len(back) != len(tc.hs) {
				t.Fatalf("decodePairs: %v, %d entries, want %d", err, len(back), len(tc.hs))
			}
		})
	}
}
