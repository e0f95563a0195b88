package wasm

import (
	"github.com/trafficext/trafficext/engine/wasm/internal/abicodec"
	"google.golang.org/protobuf/encoding/protowire"
)

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
	m, err := abicodec.Fields(b, map[protowire.Number]abicodec.Kind{1: abicodec.String, 2: abicodec.Varint, 3: abicodec.Varint, 4: abicodec.Bytes, 5: abicodec.Varint})
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
	m, err := abicodec.Fields(b, map[protowire.Number]abicodec.Kind{1: abicodec.String, 2: abicodec.String, 3: abicodec.Varint})
	if err != nil {
		return setFilterStateArgs{}, err
	}
	return setFilterStateArgs{path: protoStr(m, 1), value: protoStr(m, 2), span: int32(protoVar(m, 3))}, nil
}
