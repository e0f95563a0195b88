package wasm

import (
	"fmt"
	"strings"
	"testing"

	"github.com/trafficext/trafficext/core"
	"github.com/trafficext/trafficext/core/coretest"
)

// The fake stream, host and their parts are coretest's.
type (
	fakeMap    = coretest.Headers
	fakeBuf    = coretest.Buffer
	fakeStream = coretest.Stream
	fakeHost   = coretest.Host
)

var newMap = coretest.NewHeaders

// newFakeStream is a stream with empty request headers and bodies and no metadata, whose
// posted functions and callouts queue up until the test pumps them; cluster "auth" exists.
func newFakeStream() *fakeStream {
	s := coretest.NewStream()
	s.ReqH, s.RespH = newMap(), nil
	s.ReqBody, s.RespBody = &fakeBuf{}, &fakeBuf{}
	s.Dyn, s.Route = nil, nil
	s.LogMin = core.LogLevel(0)
	s.Clusters = map[string]bool{"auth": true}
	s.QueuePosts = true
	return s
}

// request is one exchange driven through a plugin.
type request struct {
	method, path string
	headers      []string // key, value, …
	body         string
	upstream     []string // response headers key, value, …
	respBody     string
	answer       func(core.CalloutRequest) core.CalloutResponse
	before       func(s *fakeStream) // runs while the request is paused, before callouts are answered
}

// outcome is what the downstream and upstream saw.
type outcome struct {
	s            *fakeStream
	reply        *core.LocalReply
	upstreamReq  *fakeMap
	upstreamBody string
	respH        *fakeMap
	respBody     string
	statuses     []core.Status
}

func (o outcome) status() int {
	if o.reply != nil {
		return o.reply.Status
	}
	if v, ok := o.respH.Get(":status"); ok {
		var n int
		fmt.Sscan(v, &n)
		return n
	}
	return 0
}

// drive runs one request through p the way Envoy's filter manager would: headers, body,
// waiting for a paused direction to be resumed, then the response.
func drive(t *testing.T, p core.Plugin, r request) outcome {
	t.Helper()
	s := newFakeStream()
	if r.method == "" {
		r.method = "GET"
	}
	if r.path == "" {
		r.path = "/"
	}
	s.ReqH = newMap(append([]string{":method", r.method, ":path", r.path, ":authority", "wasm.test", ":scheme", "http"}, r.headers...)...)
	s.Attrs["request.path"] = r.path
	s.Attrs["request.method"] = r.method
	s.Attrs["source.address"] = "127.0.0.1:5555"
	s.Attrs["source.port"] = int64(5555)
	s.Attrs["destination.address"] = "127.0.0.1:10000"
	s.Attrs["request.protocol"] = "HTTP/1.1"
	if r.answer == nil {
		r.answer = func(core.CalloutRequest) core.CalloutResponse {
			return core.CalloutResponse{Headers: []core.Header{{Key: ":status", Value: "200"}}, Body: []byte("ok")}
		}
	}
	f := p.NewFilter(s)
	o := outcome{s: s}
	defer func() {
		f.OnStreamComplete()
		f.OnDestroy()
	}()
	wait := func(st core.Status, resumed func() int, before int) bool {
		if st == core.Continue {
			return true
		}
		if st == core.Replied || s.Reply() != nil {
			return false
		}
		if r.before != nil {
			r.before(s)
		}
		s.Pump(r.answer)
		return s.Reply() == nil && resumed() > before
	}
	st := f.OnRequestHeaders(r.body == "")
	o.statuses = append(o.statuses, st)
	if !wait(st, func() int { return s.ContinuedReq }, 0) {
		// A paused request may still take a body before it is resumed.
		if s.Reply() == nil && r.body != "" {
			s.ReqBody.Set([]byte(r.body))
			st = f.OnRequestBody(true)
			o.statuses = append(o.statuses, st)
			s.Pump(r.answer)
		}
		if s.Reply() != nil || s.ContinuedReq == 0 {
			o.reply = s.Reply()
			return o
		}
	} else if r.body != "" {
		s.ReqBody.Set([]byte(r.body))
		st = f.OnRequestBody(true)
		o.statuses = append(o.statuses, st)
		if st != core.Continue && !wait(st, func() int { return s.ContinuedReq }, 0) {
			o.reply = s.Reply()
			return o
		}
	}
	o.upstreamReq = &fakeMap{Entries: append([]core.Header{}, s.ReqH.Entries...)}
	o.upstreamBody = string(s.ReqBody.Data)
	s.RespH = newMap(append([]string{":status", "200"}, r.upstream...)...)
	respBody := r.respBody
	st = f.OnResponseHeaders(respBody == "")
	o.statuses = append(o.statuses, st)
	if respBody != "" {
		s.RespBody.Set([]byte(respBody))
		st = f.OnResponseBody(true)
		o.statuses = append(o.statuses, st)
	}
	o.reply = s.Reply()
	o.respH = s.RespH
	o.respBody = string(s.RespBody.Data)
	return o
}

func header(m *fakeMap, k string) string {
	if m == nil {
		return "<no map>"
	}
	return strings.Join(m.Values(k), ",")
}
