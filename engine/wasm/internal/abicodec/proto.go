package abicodec

import (
	"errors"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// ErrProto is a message that does not parse.
var ErrProto = errors.New("malformed protobuf message")

// Walk parses a message's fields; each known-typed value goes to fn (nil: only check the
// encoding). Groups are skipped whole. Nested messages the caller does not descend into are
// checked only for their length, as protobuf treats unknown fields.
func Walk(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ErrProto
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var f uint32
			f, n = protowire.ConsumeFixed32(b)
			x = uint64(f)
		case protowire.Fixed64Type:
			x, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		case protowire.StartGroupType:
			n = protowire.ConsumeFieldValue(num, typ, b)
		default: // a stray end group or an invalid wire type
			return ErrProto
		}
		if n < 0 {
			return ErrProto
		}
		b = b[n:]
		if fn != nil && typ != protowire.StartGroupType {
			if err := fn(num, typ, v, x); err != nil {
				return err
			}
		}
	}
	return nil
}

// Kind is the kind of a known field of Fields.
type Kind int

const (
	String Kind = iota + 1
	Bytes
	Varint
)

// Fields parses b as a proto3 message with the semantics of C++ ParseFromArray: the last
// occurrence of a field wins, unknown fields and known fields with an unexpected wire type
// are skipped, a String field must be valid UTF-8, enums are open. It returns the last value
// of each known field present: []byte for String/Bytes, uint64 for Varint.
func Fields(b []byte, kinds map[protowire.Number]Kind) (map[protowire.Number]any, error) {
	out := map[protowire.Number]any{}
	err := Walk(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch kind := kinds[num]; {
		case (kind == String || kind == Bytes) && typ == protowire.BytesType:
			if kind == String && !utf8.Valid(v) {
				return ErrProto
			}
			out[num] = v
		case kind == Varint && typ == protowire.VarintType:
			out[num] = x
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
