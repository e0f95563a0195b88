package wasm

import (
	"github.com/trafficext/trafficext/core"
)

// Properties set by the guest (proxy_set_property) and their declarations (declare_property),
// as Envoy's CelState; where they live under the dynamic-modules ABI: RATIONALE.md.

// celStatePrefix is Envoy's CelStateKeyPrefix.
const celStatePrefix = "wasm."

// celPrototype is a declared property.
type celPrototype struct {
	readonly bool
	typ      int32 // wasmTypeBytes, …
	schema   []byte
	span     int32
}

// celState is a property's value on one stream.
type celState struct {
	proto       celPrototype
	value       []byte
	initialized bool
	// inEnvoy: the key exists in Envoy's filter state (written by this stream context or
	// found there), so it cannot be written again.
	inEnvoy bool
}

// exprValue is the state's value as CEL sees it: a string for string properties, else bytes
// (protobuf and flatbuffers properties are their serialized bytes, as Envoy returns them for
// a whole-value read); nil when never set.
func (s *celState) exprValue() any {
	if !s.initialized {
		return nil
	}
	if s.proto.typ == wasmTypeString {
		return string(s.value)
	}
	return append([]byte(nil), s.value...)
}

// propertyState resolves a top-level identifier that names a set property.
func (f *filter) propertyState(name string) (any, bool) {
	if st := f.props[name]; st != nil {
		return st.exprValue(), true
	}
	if fs := f.s.FilterState(); fs != nil {
		if b, ok := fs.Get(celStatePrefix + name); ok {
			return b, true
		}
	}
	return nil, false
}

// setProperty is Envoy's Context::setProperty.
func (v *vm) setProperty(path string, value []byte) status {
	f := v.currentFilter()
	if f == nil || !v.streamReachable(f, sideStream) {
		return statusNotFound // as Envoy without stream info
	}
	fs := f.s.FilterState()
	if fs == nil {
		return statusNotFound
	}
	st := f.props[path]
	if st == nil {
		st = &celState{proto: v.cur.root.declared[path]}
		if b, ok := fs.Get(celStatePrefix + path); ok {
			// Set earlier on this stream by another filter of the chain.
			st.value, st.initialized, st.inEnvoy = b, true, true
		}
		if f.props == nil {
			f.props = map[string]*celState{}
		}
		f.props[path] = st
	}
	if st.initialized && st.proto.readonly {
		return statusBadArgument
	}
	st.value, st.initialized = append([]byte(nil), value...), true
	if !st.inEnvoy {
		st.inEnvoy = true
		if err := fs.Set(celStatePrefix+path, st.value); err != nil {
			v.log(core.LogDebug, "proxy_set_property: "+err.Error())
		}
	}
	return statusOK
}

// declareProperty is Envoy's "declare_property" foreign function.
func (v *vm) declareProperty(args []byte) status {
	a, err := decodeDeclareProperty(args)
	if err != nil {
		return statusBadArgument
	}
	p := celPrototype{readonly: a.readonly, typ: a.typ, schema: a.schema, span: a.span}
	if p.typ < wasmTypeBytes || p.typ > wasmTypeProtobuf {
		p.typ = wasmTypeBytes
	}
	if p.span < spanFilterChain || p.span > spanDownstreamConnection {
		p.span = spanFilterChain
	}
	target := &v.cur.root.declared
	if f := v.currentFilter(); f != nil {
		target = &f.declared
	}
	if _, dup := (*target)[a.name]; dup {
		return statusBadArgument
	}
	if *target == nil {
		*target = map[string]celPrototype{}
	}
	(*target)[a.name] = p
	return statusOK
}
