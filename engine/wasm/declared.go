package wasm

import (
	"github.com/trafficext/trafficext/core"
)

// Properties set by the guest (proxy_set_property) and their declarations (Envoy's
// "declare_property" foreign function), as Envoy's CelState and CelStatePrototype
// (source/extensions/filters/common/expr/cel_state.h, v1.36.2):
//
//   - proxy_set_property(path, value) keeps the value in the stream's filter state under
//     "wasm." + path, typed by the prototype the root context declared for path (bytes and
//     writable when undeclared); a readonly property can be set once per stream; outside a
//     stream the call is NOT_FOUND.
//   - declare_property adds a prototype to the calling context (only the root context's are
//     used, as in Envoy); declaring a name twice is BAD_ARGUMENT.
//   - proxy_get_property([path]) finds the value as a top-level identifier: a string
//     property reads as a CEL string, the others as bytes; serialized, both are the raw value.
//
// The dynamic-modules ABI stores filter state read-only and typeless (a StringAccessor,
// envoy_dynamic_module_callback_http_set_filter_state_bytes), with the FilterChain life span.
// So the first value a stream gets is written to Envoy's filter state, where other filters
// and extensions of the chain read it; later values, the type and the life span are kept by
// this extension's stream context, which is where its own reads look first.

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
		st = &celState{proto: v.declared[path]}
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
	target := &v.declared
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
