package golang

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/trafficext/trafficext/core"
)

// pseudoOrder is the order All reports pseudo-headers in.
var pseudoOrder = []string{":method", ":scheme", ":authority", ":path", ":status"}

// headerMap adapts a golang filter header or trailer map to core.HeaderMap. While its phase is
// processed in Go it reads and writes the live map; afterwards (freeze) it answers reads from
// a snapshot and drops writes.
type headerMap struct {
	s        *stream
	live     api.HeaderMap
	req      api.RequestHeaderMap  // set for request headers: pseudo-header accessors
	resp     api.ResponseHeaderMap // set for response headers
	snapshot map[string][]string   // after freeze
}

var _ core.HeaderMap = (*headerMap)(nil)

func newHeaderMap(s *stream, m api.HeaderMap) *headerMap { return &headerMap{s: s, live: m} }

func newRequestHeaders(s *stream, m api.RequestHeaderMap) *headerMap {
	return &headerMap{s: s, live: m, req: m}
}

func newResponseHeaders(s *stream, m api.ResponseHeaderMap) *headerMap {
	return &headerMap{s: s, live: m, resp: m}
}

// freeze replaces the live map by a snapshot; it is a no-op on a nil or frozen map.
func (h *headerMap) freeze() {
	if h == nil || h.live == nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			h.snapshot = map[string][]string{}
		}
		h.live, h.req, h.resp = nil, nil, nil
	}()
	m := h.live.GetAllHeaders()
	for _, k := range pseudoOrder {
		if _, ok := m[k]; !ok {
			if v, ok := h.pseudo(k); ok {
				m[k] = []string{v}
			}
		}
	}
	h.snapshot = m
}

// pseudo reads a pseudo-header through the typed accessors, for maps that do not list
// pseudo-headers among their entries.
func (h *headerMap) pseudo(key string) (string, bool) {
	var v string
	switch {
	case h.req != nil && key == ":method":
		v = h.req.Method()
	case h.req != nil && key == ":path":
		v = h.req.Path()
	case h.req != nil && key == ":authority":
		v = h.req.Host()
	case h.req != nil && key == ":scheme":
		v = h.req.Scheme()
	case h.resp != nil && key == ":status":
		if code, ok := h.resp.Status(); ok {
			v = strconv.Itoa(code)
		}
	}
	return v, v != ""
}

// Get returns the first value of key.
func (h *headerMap) Get(key string) (string, bool) {
	key = strings.ToLower(key)
	if h.live == nil {
		if vs := h.snapshot[key]; len(vs) > 0 {
			return vs[0], true
		}
		return "", false
	}
	if v, ok := h.live.Get(key); ok {
		return v, true
	}
	return h.pseudo(key)
}

// Values returns every value of key.
func (h *headerMap) Values(key string) []string {
	key = strings.ToLower(key)
	if h.live == nil {
		return slices.Clone(h.snapshot[key])
	}
	if vs := h.live.Values(key); len(vs) > 0 {
		return slices.Clone(vs)
	}
	if v, ok := h.pseudo(key); ok {
		return []string{v}
	}
	return nil
}

// All returns pseudo-headers first, then the other keys in sorted order (the golang filter
// does not keep Envoy's order).
func (h *headerMap) All() []core.Header {
	var m map[string][]string
	if h.live == nil {
		m = h.snapshot
	} else {
		m = h.live.GetAllHeaders()
		for _, k := range pseudoOrder {
			if _, ok := m[k]; !ok {
				if v, ok := h.pseudo(k); ok {
					m[k] = []string{v}
				}
			}
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return headerLess(keys[i], keys[j]) })
	var out []core.Header
	for _, k := range keys {
		for _, v := range m[k] {
			out = append(out, core.Header{Key: k, Value: v})
		}
	}
	return out
}

// headerLess orders pseudo-headers first (in pseudoOrder), then keys alphabetically.
func headerLess(a, b string) bool {
	pa, pb := strings.HasPrefix(a, ":"), strings.HasPrefix(b, ":")
	if pa != pb {
		return pa
	}
	if pa {
		ia, ib := slices.Index(pseudoOrder, a), slices.Index(pseudoOrder, b)
		if ia != ib {
			if ia < 0 {
				return false
			}
			if ib < 0 {
				return true
			}
			return ia < ib
		}
	}
	return a < b
}

// Len is the number of entries.
func (h *headerMap) Len() int { return len(h.All()) }

// Set replaces every value of key.
func (h *headerMap) Set(key, value string) {
	key = strings.ToLower(key)
	if !h.writable("set", key) {
		return
	}
	switch {
	case h.req != nil && key == ":method":
		h.req.SetMethod(value)
	case h.req != nil && key == ":path":
		h.req.SetPath(value)
	case h.req != nil && key == ":authority":
		h.req.SetHost(value)
	default:
		h.live.Set(key, value)
	}
}

// Add appends a value for key.
func (h *headerMap) Add(key, value string) {
	key = strings.ToLower(key)
	if h.writable("add", key) {
		h.live.Add(key, value)
	}
}

// Remove deletes every value of key.
func (h *headerMap) Remove(key string) {
	key = strings.ToLower(key)
	if h.writable("remove", key) {
		h.live.Del(key)
	}
}

func (h *headerMap) writable(op, key string) bool {
	if h.live != nil {
		return true
	}
	if h.s != nil && h.s.LogEnabled(core.LogDebug) {
		h.s.Log(core.LogDebug, fmt.Sprintf("trafficext: extension %q: header %s %q after its phase ended; dropped", h.s.name(), op, key))
	}
	return false
}
