package wasm

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/trafficext/trafficext/core"
	"github.com/trafficext/trafficext/core/coretest"
)

// The header maps, buffers and filter state of the fake stream are coretest's.
type (
	fakeMap = coretest.Headers
	fakeBuf = coretest.Buffer
	fakeFS  = coretest.FilterState
)

var newMap = coretest.NewHeaders

type callout struct {
	req  core.CalloutRequest
	done func(core.CalloutResponse)
}

// fakeStream is an in-memory core.Stream. Posted functions and callouts queue up until the
// test runs them with pump.
type fakeStream struct {
	mu                         sync.Mutex
	reqH, respH, reqT, respT   *fakeMap
	reqBody, respBody          *fakeBuf
	attrs                      map[string]any
	fs                         fakeFS
	reply                      *core.LocalReply
	continuedReq, continuedRsp int
	posted                     []func()
	callouts                   []callout
	logs                       []string
	logMin                     core.LogLevel // the lowest level LogEnabled admits
	counters                   map[core.MetricID]uint64
	gauges                     map[core.MetricID]int64
	hists                      map[core.MetricID][]uint64
	clusters                   map[string]bool
}

func newFakeStream() *fakeStream {
	return &fakeStream{
		reqH: newMap(), reqBody: &fakeBuf{}, respBody: &fakeBuf{},
		attrs: map[string]any{}, fs: fakeFS{},
		counters: map[core.MetricID]uint64{}, gauges: map[core.MetricID]int64{}, hists: map[core.MetricID][]uint64{},
		clusters: map[string]bool{"auth": true},
	}
}

func (s *fakeStream) RequestHeaders() core.HeaderMap   { return nilMap(s.reqH) }
func (s *fakeStream) RequestTrailers() core.HeaderMap  { return nilMap(s.reqT) }
func (s *fakeStream) ResponseHeaders() core.HeaderMap  { return nilMap(s.respH) }
func (s *fakeStream) ResponseTrailers() core.HeaderMap { return nilMap(s.respT) }

func nilMap(m *fakeMap) core.HeaderMap {
	if m == nil {
		return nil
	}
	return m
}

func (s *fakeStream) RequestBody() core.Buffer         { return s.reqBody }
func (s *fakeStream) ResponseBody() core.Buffer        { return s.respBody }
func (s *fakeStream) DynamicMetadata() core.Metadata   { return nil }
func (s *fakeStream) RouteMetadata() core.Metadata     { return nil }
func (s *fakeStream) FilterState() core.FilterState    { return s.fs }
func (s *fakeStream) Attribute(n string) (any, bool)   { v, ok := s.attrs[n]; return v, ok }
func (s *fakeStream) SendLocalReply(r core.LocalReply) { s.reply = &r }
func (s *fakeStream) ContinueRequest()                 { s.continuedReq++ }
func (s *fakeStream) ContinueResponse()                { s.continuedRsp++ }
func (s *fakeStream) ClearRouteCache()                 {}
func (s *fakeStream) LogEnabled(l core.LogLevel) bool  { return l >= s.logMin }
func (s *fakeStream) Counter(id core.MetricID, d uint64) {
	s.mu.Lock()
	s.counters[id] += d
	s.mu.Unlock()
}
func (s *fakeStream) Gauge(id core.MetricID, d int64) { s.mu.Lock(); s.gauges[id] += d; s.mu.Unlock() }
func (s *fakeStream) Histogram(id core.MetricID, v uint64) {
	s.mu.Lock()
	s.hists[id] = append(s.hists[id], v)
	s.mu.Unlock()
}

func (s *fakeStream) Log(l core.LogLevel, msg string) {
	s.mu.Lock()
	s.logs = append(s.logs, msg)
	s.mu.Unlock()
}

func (s *fakeStream) HTTPCall(req core.CalloutRequest, done func(core.CalloutResponse)) error {
	if !s.clusters[req.Cluster] {
		return fmt.Errorf("cluster %q not found", req.Cluster)
	}
	s.mu.Lock()
	s.callouts = append(s.callouts, callout{req, done})
	s.mu.Unlock()
	return nil
}

func (s *fakeStream) Post(fn func()) {
	s.mu.Lock()
	s.posted = append(s.posted, fn)
	s.mu.Unlock()
}

// pump runs posted functions and answers callouts with answer until nothing is pending.
func (s *fakeStream) pump(answer func(core.CalloutRequest) core.CalloutResponse) {
	for {
		s.mu.Lock()
		posted, calls := s.posted, s.callouts
		s.posted, s.callouts = nil, nil
		s.mu.Unlock()
		if len(posted) == 0 && len(calls) == 0 {
			return
		}
		for _, fn := range posted {
			fn()
		}
		for _, c := range calls {
			c.done(answer(c.req))
		}
	}
}

// fakeHost is a core.ConfigHost recording defined metrics.
type fakeHost struct {
	mu    sync.Mutex
	names []string
	logs  []string
}

func (h *fakeHost) define(name string) (core.MetricID, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.names = append(h.names, name)
	return core.MetricID(len(h.names)), nil
}
func (h *fakeHost) DefineCounter(n string) (core.MetricID, error)   { return h.define(n) }
func (h *fakeHost) DefineGauge(n string) (core.MetricID, error)     { return h.define(n) }
func (h *fakeHost) DefineHistogram(n string) (core.MetricID, error) { return h.define(n) }
func (h *fakeHost) Log(l core.LogLevel, msg string) {
	h.mu.Lock()
	h.logs = append(h.logs, msg)
	h.mu.Unlock()
}

func (h *fakeHost) id(name string) core.MetricID {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, n := range h.names {
		if n == name {
			return core.MetricID(i + 1)
		}
	}
	return 0
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
	s.reqH = newMap(append([]string{":method", r.method, ":path", r.path, ":authority", "wasm.test", ":scheme", "http"}, r.headers...)...)
	s.attrs["request.path"] = r.path
	s.attrs["request.method"] = r.method
	s.attrs["source.address"] = "127.0.0.1:5555"
	s.attrs["source.port"] = int64(5555)
	s.attrs["destination.address"] = "127.0.0.1:10000"
	s.attrs["request.protocol"] = "HTTP/1.1"
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
		if st == core.Replied || s.reply != nil {
			return false
		}
		if r.before != nil {
			r.before(s)
		}
		s.pump(r.answer)
		return s.reply == nil && resumed() > before
	}
	st := f.OnRequestHeaders(r.body == "")
	o.statuses = append(o.statuses, st)
	if !wait(st, func() int { return s.continuedReq }, 0) {
		// A paused request may still take a body before it is resumed.
		if s.reply == nil && r.body != "" {
			s.reqBody.Set([]byte(r.body))
			st = f.OnRequestBody(true)
			o.statuses = append(o.statuses, st)
			s.pump(r.answer)
		}
		if s.reply != nil || s.continuedReq == 0 {
			o.reply = s.reply
			return o
		}
	} else if r.body != "" {
		s.reqBody.Set([]byte(r.body))
		st = f.OnRequestBody(true)
		o.statuses = append(o.statuses, st)
		if st != core.Continue && !wait(st, func() int { return s.continuedReq }, 0) {
			o.reply = s.reply
			return o
		}
	}
	o.upstreamReq = &fakeMap{Entries: append([]core.Header{}, s.reqH.Entries...)}
	o.upstreamBody = string(s.reqBody.Data)
	s.respH = newMap(append([]string{":status", "200"}, r.upstream...)...)
	respBody := r.respBody
	st = f.OnResponseHeaders(respBody == "")
	o.statuses = append(o.statuses, st)
	if respBody != "" {
		s.respBody.Set([]byte(respBody))
		st = f.OnResponseBody(true)
		o.statuses = append(o.statuses, st)
	}
	o.reply = s.reply
	o.respH = s.respH
	o.respBody = string(s.respBody.Data)
	return o
}

func header(m *fakeMap, k string) string {
	if m == nil {
		return "<no map>"
	}
	return strings.Join(m.Values(k), ",")
}
