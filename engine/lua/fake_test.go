package lua

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trafficext/trafficext/core"
	"github.com/trafficext/trafficext/core/coretest"
	"github.com/trafficext/trafficext/extconfig"
)

// fakeHeaders is an ordered multi-map.
// The header maps, buffers and filter state of the fake stream are coretest's.
type (
	fakeHeaders     = coretest.Headers
	fakeBuffer      = coretest.Buffer
	fakeFilterState = coretest.FilterState
)

var newHeaders = coretest.NewHeaders

// fakeMetadata is a metadata store; narrow mimics the dynamic-modules host (no listing,
// strings and numbers only).
type fakeMetadata struct {
	m      map[string]map[string]any
	narrow bool
}

func (f *fakeMetadata) Get(ns, key string) (any, bool) {
	v, ok := f.m[ns][key]
	return v, ok
}

func (f *fakeMetadata) Namespace(ns string) (map[string]any, bool, error) {
	if f.narrow {
		return nil, false, core.ErrUnsupported
	}
	m, ok := f.m[ns]
	return m, ok, nil
}

func (f *fakeMetadata) Set(ns, key string, v any) error {
	if f.narrow {
		switch v.(type) {
		case string, float64:
		default:
			return core.ErrUnsupported
		}
	}
	if f.m == nil {
		f.m = map[string]map[string]any{}
	}
	if f.m[ns] == nil {
		f.m[ns] = map[string]any{}
	}
	f.m[ns][key] = v
	return nil
}

type logLine struct {
	level core.LogLevel
	msg   string
}

// fakeStream is an in-memory core.Stream.
type fakeStream struct {
	reqH, reqT, respH, respT *fakeHeaders
	reqB, respB              *fakeBuffer
	dyn, route               *fakeMetadata
	fs                       fakeFilterState
	attrs                    map[string]any
	logLevel                 core.LogLevel

	replies          []core.LocalReply
	continuedReq     int
	continuedResp    int
	routeCleared     int
	callouts         []core.CalloutRequest
	calloutDone      []func(core.CalloutResponse)
	calloutErr       error
	calloutInline    *core.CalloutResponse
	logs             []logLine
	counters         map[core.MetricID]uint64
	panicOnAttribute bool
	logSleep         time.Duration // Log sleeps this long (a host call that blocks the thread)
}

func newStream() *fakeStream {
	return &fakeStream{
		reqH:     newHeaders(":method", "GET", ":path", "/", ":authority", "example.com"),
		respH:    newHeaders(":status", "200"),
		dyn:      &fakeMetadata{},
		route:    &fakeMetadata{},
		fs:       fakeFilterState{},
		attrs:    map[string]any{},
		counters: map[core.MetricID]uint64{},
		logLevel: core.LogTrace,
	}
}

func (s *fakeStream) RequestHeaders() core.HeaderMap   { return nilOr(s.reqH) }
func (s *fakeStream) RequestTrailers() core.HeaderMap  { return nilOr(s.reqT) }
func (s *fakeStream) ResponseHeaders() core.HeaderMap  { return nilOr(s.respH) }
func (s *fakeStream) ResponseTrailers() core.HeaderMap { return nilOr(s.respT) }

func nilOr(h *fakeHeaders) core.HeaderMap {
	if h == nil {
		return nil
	}
	return h
}

func (s *fakeStream) RequestBody() core.Buffer {
	if s.reqB == nil {
		return nil
	}
	return s.reqB
}

func (s *fakeStream) ResponseBody() core.Buffer {
	if s.respB == nil {
		return nil
	}
	return s.respB
}

func (s *fakeStream) DynamicMetadata() core.Metadata { return s.dyn }
func (s *fakeStream) RouteMetadata() core.Metadata   { return s.route }
func (s *fakeStream) FilterState() core.FilterState  { return s.fs }

func (s *fakeStream) Attribute(name string) (any, bool) {
	if s.panicOnAttribute {
		panic("attribute exploded")
	}
	v, ok := s.attrs[name]
	return v, ok
}

func (s *fakeStream) SendLocalReply(r core.LocalReply) { s.replies = append(s.replies, r) }
func (s *fakeStream) ContinueRequest()                 { s.continuedReq++ }
func (s *fakeStream) ContinueResponse()                { s.continuedResp++ }
func (s *fakeStream) ClearRouteCache()                 { s.routeCleared++ }

func (s *fakeStream) HTTPCall(req core.CalloutRequest, done func(core.CalloutResponse)) error {
	if s.calloutErr != nil {
		return s.calloutErr
	}
	s.callouts = append(s.callouts, req)
	if s.calloutInline != nil {
		done(*s.calloutInline)
		return nil
	}
	s.calloutDone = append(s.calloutDone, done)
	return nil
}

func (s *fakeStream) Post(fn func()) { fn() }

func (s *fakeStream) Log(level core.LogLevel, msg string) {
	if s.logSleep > 0 {
		time.Sleep(s.logSleep)
	}
	s.logs = append(s.logs, logLine{level, msg})
}

func (s *fakeStream) LogEnabled(level core.LogLevel) bool { return level >= s.logLevel }

func (s *fakeStream) Counter(id core.MetricID, delta uint64) { s.counters[id] += delta }
func (s *fakeStream) Gauge(core.MetricID, int64)             {}
func (s *fakeStream) Histogram(core.MetricID, uint64)        {}

func (s *fakeStream) logged(substr string) bool {
	for _, l := range s.logs {
		if strings.Contains(l.msg, substr) {
			return true
		}
	}
	return false
}

func (s *fakeStream) logText() string {
	var b strings.Builder
	for _, l := range s.logs {
		fmt.Fprintf(&b, "[%d] %s\n", l.level, l.msg)
	}
	return b.String()
}

// fakeHost is a core.ConfigHost.
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

func (h *fakeHost) DefineCounter(name string) (core.MetricID, error)   { return h.define(name) }
func (h *fakeHost) DefineGauge(name string) (core.MetricID, error)     { return h.define(name) }
func (h *fakeHost) DefineHistogram(name string) (core.MetricID, error) { return h.define(name) }
func (h *fakeHost) Log(_ core.LogLevel, msg string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.logs = append(h.logs, msg)
}

func (h *fakeHost) id(name string) core.MetricID {
	for i, n := range h.names {
		if n == name {
			return core.MetricID(i + 1)
		}
	}
	return 0
}

const testExt = "extensions.istio.io/trafficextension/default.test"

func extension(code string) *extconfig.Extension {
	return &extconfig.Extension{Schema: extconfig.SchemaVersion, Name: testExt, Lua: &extconfig.Lua{InlineCode: code}}
}

// load compiles code with opts or fails the test.
func load(t testing.TB, code string, opts ...Options) (*plugin, *fakeHost) {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	h := &fakeHost{}
	p, err := New(o).Load(extension(code), h)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return p.(*plugin), h
}

// errorsCounted is the script_error counter of s.
func (s *fakeStream) errorsCounted(h *fakeHost) uint64 {
	return s.counters[h.id("trafficext.default.test.script_error")]
}

func (s *fakeStream) timeoutsCounted(h *fakeHost) uint64 {
	return s.counters[h.id("trafficext.default.test.script_timeout")]
}
