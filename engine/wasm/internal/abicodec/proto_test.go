package abicodec

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

func TestFields(t *testing.T) {
	kinds := map[protowire.Number]Kind{1: String, 2: Varint, 3: Bytes}
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, "first")
	b = protowire.AppendTag(b, 2, protowire.BytesType) // known field, unexpected wire type: skipped
	b = protowire.AppendString(b, "x")
	b = protowire.AppendTag(b, 9, protowire.Fixed64Type) // unknown: skipped
	b = protowire.AppendFixed64(b, 7)
	b = protowire.AppendTag(b, 1, protowire.BytesType) // the last occurrence wins
	b = protowire.AppendString(b, "last")
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, 42)
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendBytes(b, []byte{0xff})
	m, err := Fields(b, kinds)
	if err != nil {
		t.Fatal(err)
	}
	if string(m[1].([]byte)) != "last" || m[2].(uint64) != 42 || !bytes.Equal(m[3].([]byte), []byte{0xff}) {
		t.Fatalf("fields = %v", m)
	}
	bad := protowire.AppendTag(nil, 1, protowire.BytesType)
	bad = protowire.AppendBytes(bad, []byte{0xff}) // a string field must be UTF-8
	for name, in := range map[string][]byte{"invalid utf-8 string": bad, "truncated": b[:len(b)-1], "stray end group": protowire.AppendTag(nil, 4, protowire.EndGroupType)} {
		if _, err := Fields(in, kinds); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzWalk: Walk never panics, and Fields without String kinds (no UTF-8 rule) accepts
// exactly the messages Walk accepts.
func FuzzWalk(f *testing.F) {
	f.Add(protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "v"))
	f.Add([]byte{0x0b, 0x0c}) // a group
	f.Fuzz(func(t *testing.T, b []byte) {
		walkErr := Walk(b, func(protowire.Number, protowire.Type, []byte, uint64) error { return nil })
		_, fieldsErr := Fields(b, map[protowire.Number]Kind{1: Bytes, 2: Varint})
		if (walkErr == nil) != (fieldsErr == nil) {
			t.Fatalf("Walk err %v, Fields err %v: they disagree on %x", walkErr, fieldsErr, b)
		}
	})
}
