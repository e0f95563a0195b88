// Package abicodec holds the byte layouts of the Proxy-Wasm ABI that touch no VM: serialized
// header maps (pairs) and the protobuf messages guests pass to foreign functions and gRPC
// calls, read by one protowire walker.
package abicodec

import (
	"encoding/binary"
	"errors"

	"github.com/trafficext/trafficext/core"
)

// Limits of proxy-wasm-cpp-host (include/proxy-wasm/limits.h).
const (
	maxPairsBytes = 1 << 20
	maxPairs      = 1024
)

// ErrPairs is a serialized map that does not parse.
var ErrPairs = errors.New("malformed serialized map")

// EncodePairs serializes a header map as the ABI lays it out: u32 count, count × (u32 key_len, u32
// value_len), then key\0value\0 for each pair, little-endian. An empty map is a 4-byte zero
// count, as proxy-wasm-cpp-host writes it.
func EncodePairs(hs []core.Header) []byte { return AppendPairs(nil, hs) }

// AppendPairs is EncodePairs into dst's storage: the result replaces dst's content.
func AppendPairs(dst []byte, hs []core.Header) []byte {
	n := 4 + 8*len(hs)
	for _, h := range hs {
		n += len(h.Key) + len(h.Value) + 2
	}
	b := dst[:0]
	if cap(b) < n {
		b = make([]byte, n)
	} else {
		b = b[:n]
		clear(b)
	}
	binary.LittleEndian.PutUint32(b, uint32(len(hs)))
	off := 4
	for _, h := range hs {
		binary.LittleEndian.PutUint32(b[off:], uint32(len(h.Key)))
		binary.LittleEndian.PutUint32(b[off+4:], uint32(len(h.Value)))
		off += 8
	}
	for _, h := range hs {
		off += copy(b[off:], h.Key) + 1
		off += copy(b[off:], h.Value) + 1
	}
	return b
}

// DecodePairs parses a serialized map. It accepts the three empty forms the spec and hosts
// use: no bytes, a single zero byte, and a zero count.
func DecodePairs(b []byte) ([]core.Header, error) {
	if len(b) == 0 || (len(b) == 1 && b[0] == 0) {
		return nil, nil
	}
	if len(b) < 4 || len(b) > maxPairsBytes {
		return nil, ErrPairs
	}
	n := binary.LittleEndian.Uint32(b)
	if n > maxPairs || uint64(len(b)) < 4+8*uint64(n) {
		return nil, ErrPairs
	}
	out := make([]core.Header, n)
	data := 4 + 8*int(n)
	for i := range out {
		kl := int(binary.LittleEndian.Uint32(b[4+8*i:]))
		vl := int(binary.LittleEndian.Uint32(b[8+8*i:]))
		if kl < 0 || vl < 0 || data+kl+vl+2 > len(b) {
			return nil, ErrPairs
		}
		out[i].Key = string(b[data : data+kl])
		data += kl + 1
		out[i].Value = string(b[data : data+vl])
		data += vl + 1
	}
	return out, nil
}
