package wasm

import (
	"errors"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// Decoding of the small argument messages of Envoy's foreign functions
// (source/extensions/common/wasm/ext/*.proto), with the semantics of C++ ParseFromArray on a
// proto3 message: the last occurrence of a field wins, unknown fields and known fields with an
// unexpected wire type are skipped, a `string` field must be valid UTF-8, enums are open.

var errProtoArgs = errors.New("malformed protobuf arguments")

// protoField is the kind of a known field.
type protoField int

const (
	protoString protoField = iota + 1
	protoBytes
	protoVarint
)

// decodeProtoArgs parses b with the given field kinds and returns the last value of each
// known field present: []byte for string/bytes fields, uint64 for varints.
func decodeProtoArgs(b []byte, kinds map[protowire.Number]protoField) (map[protowire.Number]any, error) {
	out := map[protowire.Number]any{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, errProtoArgs
		}
		b = b[n:]
		kind := kinds[num]
		switch {
		case (kind == protoString || kind == protoBytes) && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, errProtoArgs
			}
			if kind == protoString && !utf8.Valid(v) {
				return nil, errProtoArgs
			}
			out[num] = v
			b = b[n:]
		case kind == protoVarint && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, errProtoArgs
			}
			out[num] = v
			b = b[n:]
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return nil, errProtoArgs
			}
			b = b[n:]
		}
	}
	return out, nil
}

func protoStr(m map[protowire.Number]any, n protowire.Number) string {
	b, _ := m[n].([]byte)
	return string(b)
}

func protoVar(m map[protowire.Number]any, n protowire.Number) uint64 {
	v, _ := m[n].(uint64)
	return v
}

// Envoy's LifeSpan enum (declare_property.proto).
const (
	spanFilterChain          = 0
	spanDownstreamRequest    = 1
	spanDownstreamConnection = 2
)

// Envoy's WasmType enum (declare_property.proto).
const (
	wasmTypeBytes       = 0
	wasmTypeString      = 1
	wasmTypeFlatBuffers = 2
	wasmTypeProtobuf    = 3
)

// declarePropertyArgs is DeclarePropertyArguments {1 name string, 2 readonly bool, 3 type
// WasmType, 4 schema bytes, 5 span LifeSpan}.
type declarePropertyArgs struct {
	name     string
	readonly bool
	typ      int32
	schema   []byte
	span     int32
}

func decodeDeclareProperty(b []byte) (declarePropertyArgs, error) {
	m, err := decodeProtoArgs(b, map[protowire.Number]protoField{1: protoString, 2: protoVarint, 3: protoVarint, 4: protoBytes, 5: protoVarint})
	if err != nil {
		return declarePropertyArgs{}, err
	}
	schema, _ := m[4].([]byte)
	return declarePropertyArgs{
		name:     protoStr(m, 1),
		readonly: protoVar(m, 2) != 0,
		typ:      int32(protoVar(m, 3)),
		schema:   append([]byte(nil), schema...),
		span:     int32(protoVar(m, 5)),
	}, nil
}

// setFilterStateArgs is SetEnvoyFilterStateArguments {1 path string, 2 value string, 3 span
// LifeSpan}.
type setFilterStateArgs struct {
	path, value string
	span        int32
}

func decodeSetFilterState(b []byte) (setFilterStateArgs, error) {
	m, err := decodeProtoArgs(b, map[protowire.Number]protoField{1: protoString, 2: protoString, 3: protoVarint})
	if err != nil {
		return setFilterStateArgs{}, err
	}
	return setFilterStateArgs{path: protoStr(m, 1), value: protoStr(m, 2), span: int32(protoVar(m, 3))}, nil
}
