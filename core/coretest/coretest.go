// Package coretest is the one in-memory double of core for the unit tests of engines and
// bindings: header maps, buffers, filter state, metadata, and a recording Stream and
// ConfigHost built from them.
package coretest

import "github.com/trafficext/trafficext/core"

// Headers is an ordered, multi-valued header map (keys are compared as given).
type Headers struct {
	Entries []core.Header
}

var _ core.HeaderMap = (*Headers)(nil)

// NewHeaders returns a map holding the key/value pairs kv, in order.
func NewHeaders(kv ...string) *Headers {
	h := &Headers{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Entries = append(h.Entries, core.Header{Key: kv[i], Value: kv[i+1]})
	}
	return h
}

func (h *Headers) Get(k string) (string, bool) {
	for _, e := range h.Entries {
		if e.Key == k {
			return e.Value, true
		}
	}
	return "", false
}

func (h *Headers) Values(k string) []string {
	var out []string
	for _, e := range h.Entries {
		if e.Key == k {
			out = append(out, e.Value)
		}
	}
	return out
}

func (h *Headers) All() []core.Header { return append([]core.Header(nil), h.Entries...) }
func (h *Headers) Len() int           { return len(h.Entries) }
func (h *Headers) Set(k, v string)    { h.Remove(k); h.Add(k, v) }
func (h *Headers) Add(k, v string)    { h.Entries = append(h.Entries, core.Header{Key: k, Value: v}) }

func (h *Headers) Remove(k string) {
	out := h.Entries[:0]
	for _, e := range h.Entries {
		if e.Key != k {
			out = append(out, e)
		}
	}
	h.Entries = out
}

// Buffer is a body.
type Buffer struct {
	Data []byte
}

var _ core.Buffer = (*Buffer)(nil)

func (b *Buffer) Len() int        { return len(b.Data) }
func (b *Buffer) Bytes() []byte   { return append([]byte(nil), b.Data...) }
func (b *Buffer) Append(p []byte) { b.Data = append(b.Data, p...) }
func (b *Buffer) Drain(n int)     { b.Data = b.Data[min(max(n, 0), len(b.Data)):] }
func (b *Buffer) Set(p []byte)    { b.Data = append([]byte(nil), p...) }

// FilterState is a filter-state store.
type FilterState map[string][]byte

var _ core.FilterState = FilterState(nil)

func (f FilterState) Get(k string) ([]byte, bool)  { v, ok := f[k]; return v, ok }
func (f FilterState) Set(k string, v []byte) error { f[k] = v; return nil }
