package lua

import (
	"strconv"
	"strings"

	"github.com/trafficext/trafficext/core"
)

// Envoy's local reply from respond() runs through the whole encoder chain, including the Lua
// filter's own envoy_on_response. The dynamic-modules host does not call its module back for
// a reply the module sent (sent_local_reply_ in dynamic_modules/filter.cc), so the engine runs
// the response hook itself, on the reply, before handing it to the host: a second filter over
// a stream whose response side is the reply (headers as Envoy builds them, the body complete),
// in another state of the plugin. A response hook that waits for a callout cannot finish
// here; it is abandoned with the reply as it then stands.

// localHeaders is an ordered multi-map with lowercase keys.
type localHeaders struct{ h []core.Header }

func (m *localHeaders) Get(k string) (string, bool) {
	k = strings.ToLower(k)
	for _, e := range m.h {
		if e.Key == k {
			return e.Value, true
		}
	}
	return "", false
}

func (m *localHeaders) Values(k string) []string {
	k = strings.ToLower(k)
	var out []string
	for _, e := range m.h {
		if e.Key == k {
			out = append(out, e.Value)
		}
	}
	return out
}

func (m *localHeaders) All() []core.Header { return append([]core.Header(nil), m.h...) }
func (m *localHeaders) Len() int           { return len(m.h) }

func (m *localHeaders) Set(k, v string) {
	k = strings.ToLower(k)
	for i := range m.h {
		if m.h[i].Key == k {
			m.h[i].Value = v
			m.remove(k, i+1)
			return
		}
	}
	m.h = append(m.h, core.Header{Key: k, Value: v})
}

func (m *localHeaders) Add(k, v string) {
	m.h = append(m.h, core.Header{Key: strings.ToLower(k), Value: v})
}

func (m *localHeaders) Remove(k string) { m.remove(strings.ToLower(k), 0) }

func (m *localHeaders) remove(k string, from int) {
	out := m.h[:from]
	for _, e := range m.h[from:] {
		if e.Key != k {
			out = append(out, e)
		}
	}
	m.h = out
}

// localReplyStream is the stream the response hook sees for a respond() reply.
type localReplyStream struct {
	core.Stream
	h *localHeaders
	b *localBuffer
}

func (s *localReplyStream) ResponseHeaders() core.HeaderMap  { return s.h }
func (s *localReplyStream) ResponseBody() core.Buffer        { return s.b }
func (s *localReplyStream) ResponseTrailers() core.HeaderMap { return nil }
func (s *localReplyStream) ContinueResponse()                {}
func (s *localReplyStream) ClearRouteCache()                 {}
func (s *localReplyStream) SendLocalReply(core.LocalReply)   {}

// throughResponseHook runs envoy_on_response over the reply r and returns the reply as the hook
// left it.
func (f *filter) throughResponseHook(r core.LocalReply) core.LocalReply {
	h := &localHeaders{}
	h.Add(":status", strconv.Itoa(r.Status))
	if len(r.Body) > 0 {
		h.Add("content-length", strconv.Itoa(len(r.Body)))
		h.Add("content-type", "text/plain")
	}
	for _, e := range r.Headers {
		h.Add(e.Key, e.Value)
	}
	f.replyHooked = true
	s := &localReplyStream{Stream: f.s, h: h, b: &localBuffer{b: append([]byte(nil), r.Body...)}}
	lf := &filter{p: f.p, s: s, shadow: f.shadow}
	lf.req.init(lf, false)
	lf.resp.init(lf, true)
	if st := lf.resp.onHeaders(len(r.Body) == 0); st != core.Continue && len(r.Body) > 0 {
		lf.resp.onBody(true)
	}
	lf.OnDestroy()

	out := core.LocalReply{Status: r.Status, Body: s.b.b, Details: r.Details}
	for _, e := range h.h {
		switch e.Key {
		case ":status":
			if n, err := strconv.Atoi(e.Value); err == nil && n >= 200 && n < 600 {
				out.Status = n
			}
		case "content-length":
			// The host sizes the reply itself.
		case "content-type":
			if e.Value != "text/plain" || len(out.Body) == 0 {
				out.Headers = append(out.Headers, e)
			}
		default:
			out.Headers = append(out.Headers, e)
		}
	}
	return out
}
