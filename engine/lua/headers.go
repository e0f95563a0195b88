package lua

import (
	"strings"

	glua "github.com/yuin/gopher-lua"

	"github.com/trafficext/trafficext/core"
)

// headersObj is the header-map object (Envoy's HeaderMapWrapper) for a direction's headers or
// trailers. The map is read lazily from the stream on first use within a call.
type headersObj struct {
	d         *direction
	trailers  bool
	iterating bool
	hm        core.HeaderMap
	iter      []core.Header // the entries of the live pairs() iteration
	iterPos   int
}

func (h *headersObj) dir() *direction { return h.d }

// m returns the live map (nil when the stream has none).
func (h *headersObj) m() core.HeaderMap {
	if h.hm == nil {
		switch s := h.d.f.s; {
		case h.trailers:
			h.hm = h.d.trailerMap()
		case h.d.response:
			h.hm = s.ResponseHeaders()
		default:
			h.hm = s.RequestHeaders()
		}
		if h.hm == nil {
			h.hm = emptyHeaders{}
		}
	}
	return h.hm
}

func (d *direction) trailerMap() core.HeaderMap {
	if d.response {
		return d.f.s.ResponseTrailers()
	}
	return d.f.s.RequestTrailers()
}

func checkHeaders(L *glua.LState) *headersObj {
	ownerOf(L)
	return L.Get(1).(*glua.LUserData).Value.(*headersObj)
}

// modifiable raises Envoy's errors for a mutation that is not allowed, and on the request path
// clears the route cache before the first mutation (Envoy's onHeadersModified).
func (h *headersObj) modifiable(L *glua.LState) core.HeaderMap {
	if h.iterating {
		L.RaiseError("header map cannot be modified while iterating")
	}
	if !h.trailers {
		d := h.d
		if d.headersContinued {
			L.RaiseError("header map can no longer be modified")
		}
		if !d.response && !d.routeCleared {
			d.routeCleared = true
			d.f.s.ClearRouteCache()
		}
	}
	return h.m()
}

// lowerKey reads a header name and lowercases it as Envoy's LowerCaseString does (ASCII only).
func lowerKey(L *glua.LState, n int) string { return asciiLower(L.CheckString(n)) }

// asciiLower lowercases ASCII letters only, without allocating when s is already lower case.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return mapASCII(s, 'A', 'Z', 'a'-'A')
		}
	}
	return s
}

func mapASCII(s string, lo, hi, delta byte) string {
	b := []byte(s)
	for i, c := range b {
		if lo <= c && c <= hi {
			b[i] = c + delta
		}
	}
	return string(b)
}

func (v *vm) headersClass() *glua.LTable {
	v.headersNext = v.L.NewFunction(v.guard(headersNextFunc))
	return v.class(map[string]glua.LGFunction{
		"get": func(L *glua.LState) int {
			h := checkHeaders(L)
			vals := h.m().Values(lowerKey(L, 2))
			switch len(vals) {
			case 0:
				return 0
			case 1:
				L.Push(glua.LString(vals[0]))
			default:
				L.Push(glua.LString(strings.Join(vals, ",")))
			}
			return 1
		},
		"getAtIndex": func(L *glua.LState) int {
			h := checkHeaders(L)
			key := lowerKey(L, 2)
			i := int(L.CheckNumber(3))
			vals := h.m().Values(key)
			if i < 0 || i >= len(vals) {
				return 0
			}
			L.Push(glua.LString(vals[i]))
			return 1
		},
		"getNumValues": func(L *glua.LState) int {
			h := checkHeaders(L)
			L.Push(glua.LNumber(len(h.m().Values(lowerKey(L, 2)))))
			return 1
		},
		"add": func(L *glua.LState) int {
			h := checkHeaders(L)
			m := h.modifiable(L)
			m.Add(lowerKey(L, 2), L.CheckString(3))
			return 0
		},
		"replace": func(L *glua.LState) int {
			h := checkHeaders(L)
			m := h.modifiable(L)
			m.Set(lowerKey(L, 2), L.CheckString(3))
			return 0
		},
		"remove": func(L *glua.LState) int {
			h := checkHeaders(L)
			m := h.modifiable(L)
			m.Remove(lowerKey(L, 2))
			return 0
		},
		"setHttp1ReasonPhrase": func(L *glua.LState) int {
			h := checkHeaders(L)
			h.modifiable(L)
			L.CheckString(2)
			// The host interface carries no reason phrase; accepted and ignored.
			return 0
		},
	}, map[string]glua.LGFunction{
		"__pairs": func(L *glua.LState) int {
			h := checkHeaders(L)
			if h.iterating {
				L.RaiseError("cannot create a second iterator before completing the first")
			}
			h.iterating = true
			h.iter, h.iterPos = h.m().All(), 0
			// One iterator function per state, stepping the object's own cursor: pairs()
			// allocates no closure.
			L.Push(v.headersNext)
			L.Push(L.Get(1))
			L.Push(glua.LNil)
			return 3
		},
	})
}

// headersNextFunc is the iterator pairs(headers) returns: next(headers) → key, value.
func headersNextFunc(L *glua.LState) int {
	h := checkHeaders(L)
	if h.iterPos >= len(h.iter) {
		h.iterating = false
		h.iter = nil
		return 0
	}
	e := h.iter[h.iterPos]
	h.iterPos++
	L.Push(glua.LString(e.Key))
	L.Push(glua.LString(e.Value))
	return 2
}

// emptyHeaders stands for a map the stream does not have: reads see nothing and writes are
// dropped.
type emptyHeaders struct{}

func (emptyHeaders) Get(string) (string, bool) { return "", false }
func (emptyHeaders) Values(string) []string    { return nil }
func (emptyHeaders) All() []core.Header        { return nil }
func (emptyHeaders) Len() int                  { return 0 }
func (emptyHeaders) Set(string, string)        {}
func (emptyHeaders) Add(string, string)        {}
func (emptyHeaders) Remove(string)             {}
