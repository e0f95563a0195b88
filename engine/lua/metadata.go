package lua

import (
	"errors"

	glua "github.com/yuin/gopher-lua"

	"github.com/trafficext/trafficext/core"
)

// luaFilterName is the route-metadata namespace Envoy's Lua filter falls back to.
const luaFilterName = "envoy.filters.http.lua"

// Dynamic metadata.
//
// Envoy's dynamicMetadata() object reads and merges into the stream's dynamic metadata. Hosts
// may be narrower: a host may not list a namespace, and the dynamic-modules host carries no
// tables. So the filter keeps a per-stream shadow of every value its script set (shared
// by the request and the response hooks): set() writes the host when it can and always the
// shadow; get(ns) returns a table holding the shadowed keys of ns (and, when the host can
// list the namespace, its other keys), whose __index falls back to the host for keys the
// shadow lacks. pairs over it therefore lists at least the keys this extension set.

// shadowEntry is one value the script set; a stream sets few, so a slice beats maps.
type shadowEntry struct {
	ns, key string
	val     any
}

func (f *filter) shadowSet(ns, key string, val any) {
	for i := range f.shadow {
		if e := &f.shadow[i]; e.ns == ns && e.key == key {
			e.val = val
			return
		}
	}
	f.shadow = append(f.shadow, shadowEntry{ns, key, val})
}

// shadowCount is the number of shadowed keys in ns.
func (f *filter) shadowCount(ns string) int {
	n := 0
	for _, e := range f.shadow {
		if e.ns == ns {
			n++
		}
	}
	return n
}

// shadowNamespaces lists the namespaces the script set, sorted.
func (f *filter) shadowNamespaces() []string {
	seen := make(map[string]struct{}, 2)
	for _, e := range f.shadow {
		seen[e.ns] = struct{}{}
	}
	return sortedKeys(seen)
}

// dynMetaTable builds the table get(ns) returns, or nil when nothing is known of ns.
func (d *direction) dynMetaTable(L *glua.LState, ns string) glua.LValue {
	md := d.f.s.DynamicMetadata()
	shadowed := d.f.shadowCount(ns)
	var listed map[string]any
	listable := false
	if md != nil {
		m, ok, err := md.Namespace(ns)
		switch {
		case err == nil:
			listable = true
			if ok {
				listed = m
			}
		case errors.Is(err, core.ErrUnsupported):
		default:
			d.log(core.LogDebug, "trafficext: reading dynamic metadata namespace "+ns+": "+err.Error())
		}
	}
	if listable && listed == nil && shadowed == 0 {
		return glua.LNil
	}
	t := L.CreateTable(0, len(listed)+shadowed)
	for k, v := range listed {
		t.RawSetString(k, toLua(L, v))
	}
	for _, e := range d.f.shadow {
		if e.ns == ns {
			t.RawSetString(e.key, toLua(L, e.val))
		}
	}
	if !listable && md != nil {
		L.SetMetatable(t, d.vm.dynMetaFallback(ns))
	}
	return t
}

// maxFallbackMetatables bounds the per-state cache of namespace fallback metatables.
const maxFallbackMetatables = 64

// dynMetaFallback is the metatable of get(ns)'s table on a host that cannot list a namespace:
// a missing key is read from the host, for the stream currently running on this state (a
// table kept past its request finds nothing). Built once per namespace and state.
func (v *vm) dynMetaFallback(ns string) *glua.LTable {
	if mt, ok := v.dmFallback[ns]; ok {
		return mt
	}
	L := v.L
	mt := L.CreateTable(0, 1)
	mt.RawSetString("__index", L.NewFunction(func(L *glua.LState) int {
		key, ok := L.Get(2).(glua.LString)
		d := v.cur
		if !ok || d == nil || !d.live {
			return 0
		}
		md := d.f.s.DynamicMetadata()
		if md == nil {
			return 0
		}
		val, found := md.Get(ns, string(key))
		if !found {
			return 0
		}
		lv := toLua(L, val)
		L.Get(1).(*glua.LTable).RawSetString(string(key), lv)
		L.Push(lv)
		return 1
	}))
	if v.dmFallback == nil {
		v.dmFallback = make(map[string]*glua.LTable)
	}
	if len(v.dmFallback) < maxFallbackMetatables {
		v.dmFallback[ns] = mt
	}
	return mt
}

func (v *vm) dynMetaClass() *glua.LTable {
	return v.class(map[string]glua.LGFunction{
		"get": func(L *glua.LState) int {
			d := ownerOf(L)
			L.Push(d.dynMetaTable(L, L.CheckString(2)))
			return 1
		},
		"set": func(L *glua.LState) int {
			d := ownerOf(L)
			ns, key := L.CheckString(2), L.CheckString(3)
			val := fromLua(L, L.Get(4), 0)
			d.f.shadowSet(ns, key, val)
			if md := d.f.s.DynamicMetadata(); md != nil {
				if err := md.Set(ns, key, val); err != nil && !errors.Is(err, core.ErrUnsupported) {
					d.log(core.LogDebug, "trafficext: setting dynamic metadata "+ns+"."+key+": "+err.Error())
				}
			}
			return 0
		},
	}, map[string]glua.LGFunction{
		"__pairs": func(L *glua.LState) int {
			d := ownerOf(L)
			L.Push(pairsIterator(L, d.f.shadowNamespaces(), func(L *glua.LState, ns string) glua.LValue { return d.dynMetaTable(L, ns) }))
			return 1
		},
	})
}

// metadataObj is a read-only metadata object (route metadata, filterContext()).
type metadataObj struct {
	d        *direction
	ns       string
	fallback string
	empty    bool
}

func (m *metadataObj) dir() *direction { return m.d }

func checkMetadata(L *glua.LState) *metadataObj {
	ownerOf(L)
	return L.Get(1).(*glua.LUserData).Value.(*metadataObj)
}

// get looks a key up in the object's namespace, falling back as Envoy's metadata() does.
func (m *metadataObj) get(key string) (any, bool) {
	if m.empty {
		return nil, false
	}
	rm := m.d.f.s.RouteMetadata()
	if rm == nil {
		return nil, false
	}
	ns := m.namespace(rm)
	if ns != "" {
		return rm.Get(ns, key)
	}
	if v, ok := rm.Get(m.ns, key); ok {
		return v, true
	}
	if m.fallback != "" {
		return rm.Get(m.fallback, key)
	}
	return nil, false
}

// namespace returns the namespace in use when the host can tell which exists ("" otherwise).
func (m *metadataObj) namespace(rm core.Metadata) string {
	if _, ok, err := rm.Namespace(m.ns); err == nil {
		if ok || m.fallback == "" {
			return m.ns
		}
		return m.fallback
	}
	return ""
}

func (m *metadataObj) all() map[string]any {
	if m.empty {
		return nil
	}
	rm := m.d.f.s.RouteMetadata()
	if rm == nil {
		return nil
	}
	ns := m.namespace(rm)
	if ns == "" {
		return nil
	}
	all, _, _ := rm.Namespace(ns)
	return all
}

func (v *vm) metadataClass() *glua.LTable {
	return v.class(map[string]glua.LGFunction{
		"get": func(L *glua.LState) int {
			m := checkMetadata(L)
			val, ok := m.get(L.CheckString(2))
			if !ok {
				return 0
			}
			L.Push(toLua(L, val))
			return 1
		},
	}, map[string]glua.LGFunction{
		"__pairs": func(L *glua.LState) int {
			all := checkMetadata(L).all()
			L.Push(pairsIterator(L, sortedKeys(all), func(L *glua.LState, k string) glua.LValue { return toLua(L, all[k]) }))
			return 1
		},
	})
}

// routeObj is route() / virtualHost(): metadata() under the exact filter name.
type routeObj struct {
	d     *direction
	vhost bool
}

func (r *routeObj) dir() *direction { return r.d }

func (v *vm) routeClass() *glua.LTable {
	return v.class(map[string]glua.LGFunction{
		"metadata": func(L *glua.LState) int {
			d := ownerOf(L)
			r := L.Get(1).(*glua.LUserData).Value.(*routeObj)
			// The host exposes no virtual-host metadata: virtualHost():metadata() is empty.
			L.Push(d.track(d.vm.newUD(&metadataObj{d: d, ns: d.f.p.name, empty: r.vhost}, d.vm.mt.metadata)))
			return 1
		},
	}, nil)
}

func (v *vm) filterStateClass() *glua.LTable {
	return v.class(map[string]glua.LGFunction{
		"get": func(L *glua.LState) int {
			d := ownerOf(L)
			name := L.CheckString(2)
			if L.GetTop() >= 3 && L.Get(3) != glua.LNil {
				// Field access needs object types the host does not expose.
				L.CheckString(3)
				return 0
			}
			fs := d.f.s.FilterState()
			if fs == nil {
				return 0
			}
			b, ok := fs.Get(name)
			if !ok {
				return 0
			}
			L.Push(glua.LString(b))
			return 1
		},
	}, nil)
}

// pairsIterator is the iterator __pairs returns: keys in order, each with its value.
func pairsIterator(L *glua.LState, keys []string, value func(*glua.LState, string) glua.LValue) *glua.LFunction {
	i := 0
	return L.NewFunction(func(L *glua.LState) int {
		if i >= len(keys) {
			return 0
		}
		k := keys[i]
		i++
		L.Push(glua.LString(k))
		L.Push(value(L, k))
		return 2
	})
}
