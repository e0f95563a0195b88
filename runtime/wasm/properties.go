package wasm

import (
	"context"
	"encoding/binary"
	"math"
	"strings"

	"github.com/tetratelabs/wazero/api"

	"github.com/trafficext/trafficext/filter/core"
)

// property returns a property value serialized as Envoy's get_property does (spec §5.4):
// strings raw; integers as 8-byte little-endian; maps as serialized pairs.
func (v *vm) property(path []string) ([]byte, bool) {
	name := strings.Join(path, ".")
	switch name {
	case "plugin_name":
		return []byte(v.p.pluginName), true
	case "plugin_root_id":
		return []byte(v.p.rootID), true
	case "plugin_vm_id":
		return []byte(v.p.w.VMID), true
	}
	f := v.currentFilter()
	if f == nil {
		return nil, false
	}
	if len(path) >= 2 && path[1] == "headers" || len(path) >= 2 && path[1] == "trailers" {
		var hm core.HeaderMap
		switch path[0] + "." + path[1] {
		case "request.headers":
			hm = f.s.RequestHeaders()
		case "response.headers":
			hm = f.s.ResponseHeaders()
		case "request.trailers":
			hm = f.s.RequestTrailers()
		case "response.trailers":
			hm = f.s.ResponseTrailers()
		}
		if hm != nil {
			if len(path) == 3 {
				vals := hm.Values(strings.ToLower(path[2]))
				if len(vals) == 0 {
					return nil, false
				}
				return []byte(strings.Join(vals, ",")), true
			}
			if len(path) == 2 {
				return encodePairs(joinedHeaders(hm)), true
			}
		}
	}
	if val, ok := f.s.Attribute(name); ok {
		return serializeValue(val), true
	}
	if fs := f.s.FilterState(); fs != nil {
		if b, ok := fs.Get("wasm." + name); ok {
			return b, true
		}
	}
	return nil, false
}

// joinedHeaders is a header map with repeated keys comma-joined, as Envoy's attribute maps.
func joinedHeaders(hm core.HeaderMap) []core.Header {
	var out []core.Header
	idx := map[string]int{}
	for _, h := range hm.All() {
		if i, ok := idx[h.Key]; ok {
			out[i].Value += "," + h.Value
			continue
		}
		idx[h.Key] = len(out)
		out = append(out, h)
	}
	return out
}

func serializeValue(val any) []byte {
	switch x := val.(type) {
	case string:
		return []byte(x)
	case []byte:
		return x
	case int64:
		return binary.LittleEndian.AppendUint64(nil, uint64(x))
	case int:
		return binary.LittleEndian.AppendUint64(nil, uint64(x))
	case uint64:
		return binary.LittleEndian.AppendUint64(nil, x)
	case float64:
		return binary.LittleEndian.AppendUint64(nil, math.Float64bits(x))
	case bool:
		if x {
			return []byte{1}
		}
		return []byte{0}
	}
	return nil
}

func splitPath(b []byte) []string {
	s := strings.TrimSuffix(string(b), "\x00")
	return strings.Split(s, "\x00")
}

// proxy_get_property(path, path_size, return_value, return_value_size).
func hostGetProperty(ctx context.Context, v *vm, m api.Module, a []uint32) status {
	b, ok := read(m, a[0], a[1])
	if !ok {
		return statusInvalidMemory
	}
	val, found := v.property(splitPath(b))
	if !found {
		return statusNotFound
	}
	return v.writeOut(ctx, m, val, a[2], a[3])
}

// proxy_set_property(path, path_size, value, value_size): stored as filter state
// wasm.<path>, as Envoy does; readable back through proxy_get_property.
func hostSetProperty(_ context.Context, v *vm, m api.Module, a []uint32) status {
	b, ok1 := read(m, a[0], a[1])
	val, ok2 := read(m, a[2], a[3])
	if !ok1 || !ok2 {
		return statusInvalidMemory
	}
	f := v.currentFilter()
	if f == nil {
		return statusBadArgument
	}
	fs := f.s.FilterState()
	if fs == nil {
		return statusInternalFailure
	}
	if err := fs.Set("wasm."+strings.Join(splitPath(b), "."), append([]byte{}, val...)); err != nil {
		return statusInternalFailure
	}
	return statusOK
}
