package coretest

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/trafficext/trafficext/core"
)

// Metadata is an in-memory core.Metadata; Narrow mimics the dynamic-modules host (no listing,
// strings and numbers only).
type Metadata struct {
	M      map[string]map[string]any
	Narrow bool
}

func (f *Metadata) Get(ns, key string) (any, bool) {
	v, ok := f.M[ns][key]
	return v, ok
}

func (f *Metadata) Namespace(ns string) (map[string]any, bool, error) {
	if f.Narrow {
		return nil, false, core.ErrUnsupported
	}
	m, ok := f.M[ns]
	return m, ok, nil
}

func (f *Metadata) Set(ns, key string, v any) error {
	if f.Narrow {
		switch v.(type) {
		case string, float64:
		default:
			return core.ErrUnsupported
		}
	}
	if f.M == nil {
		f.M = map[string]map[string]any{}
	}
	if f.M[ns] == nil {
		f.M[ns] = map[string]any{}
	}
	f.M[ns][key] = v
	return nil
}

// LogLine is one line a Stream or Host logged.
type LogLine struct {
	Level core.LogLevel
	Msg   string
}

// Callout is one HTTP call the stream was asked to make, pending until the test calls Done.
type Callout struct {
	Req  core.CalloutRequest
	Done func(core.CalloutResponse)
}

// Stream is the one recording core.Stream of the engine tests. A nil map or buffer is
// reported as absent; Mu guards what engine goroutines may touch (logs, metrics, posted
// functions, callouts).
type Stream struct {
	Mu                       sync.Mutex
	ReqH, ReqT, RespH, RespT *Headers
	ReqBody, RespBody        *Buffer
	Dyn, Route               *Metadata // nil: the host has none
	FS                       FilterState
	Attrs                    map[string]any
	PanicOnAttribute         bool

	Replies                                   []core.LocalReply
	ContinuedReq, ContinuedResp, RouteCleared int
	// CanReset makes the stream a core.StreamResetter; Resets records the details of each reset.
	CanReset bool
	Resets   []string

	Clusters      map[string]bool // the clusters HTTPCall knows; nil: every cluster
	CalloutErr    error           // HTTPCall fails with it
	CalloutInline *core.CalloutResponse
	Callouts      []Callout
	QueuePosts    bool // Post queues until Pump instead of running at once
	Posted        []func()

	Logs     []LogLine
	LogMin   core.LogLevel // the lowest level LogEnabled admits
	LogSleep time.Duration // Log sleeps this long (a host call that blocks the thread)
	Counters map[core.MetricID]uint64
	Gauges   map[core.MetricID]int64
	Hists    map[core.MetricID][]uint64
}

// NewStream is a GET / to example.com answered 200, with empty metadata and filter state.
func NewStream() *Stream {
	return &Stream{
		ReqH:  NewHeaders(":method", "GET", ":path", "/", ":authority", "example.com"),
		RespH: NewHeaders(":status", "200"),
		Dyn:   &Metadata{}, Route: &Metadata{}, FS: FilterState{}, Attrs: map[string]any{},
		Counters: map[core.MetricID]uint64{}, Gauges: map[core.MetricID]int64{}, Hists: map[core.MetricID][]uint64{},
		LogMin: core.LogTrace,
	}
}

func headerMap(h *Headers) core.HeaderMap {
	if h == nil {
		return nil
	}
	return h
}

func buffer(b *Buffer) core.Buffer {
	if b == nil {
		return nil
	}
	return b
}

func metadata(m *Metadata) core.Metadata {
	if m == nil {
		return nil
	}
	return m
}

func (s *Stream) RequestHeaders() core.HeaderMap   { return headerMap(s.ReqH) }
func (s *Stream) RequestTrailers() core.HeaderMap  { return headerMap(s.ReqT) }
func (s *Stream) ResponseHeaders() core.HeaderMap  { return headerMap(s.RespH) }
func (s *Stream) ResponseTrailers() core.HeaderMap { return headerMap(s.RespT) }
func (s *Stream) RequestBody() core.Buffer         { return buffer(s.ReqBody) }
func (s *Stream) ResponseBody() core.Buffer        { return buffer(s.RespBody) }
func (s *Stream) DynamicMetadata() core.Metadata   { return metadata(s.Dyn) }
func (s *Stream) RouteMetadata() core.Metadata     { return metadata(s.Route) }
func (s *Stream) FilterState() core.FilterState    { return s.FS }

func (s *Stream) Attribute(name string) (any, bool) {
	if s.PanicOnAttribute {
		panic("attribute exploded")
	}
	v, ok := s.Attrs[name]
	return v, ok
}

func (s *Stream) SendLocalReply(r core.LocalReply) { s.Replies = append(s.Replies, r) }

// ResetStream records a reset when CanReset is set, and reports whether it did.
func (s *Stream) ResetStream(details string) bool {
	if !s.CanReset {
		return false
	}
	s.Resets = append(s.Resets, details)
	return true
}
func (s *Stream) ContinueRequest()  { s.ContinuedReq++ }
func (s *Stream) ContinueResponse() { s.ContinuedResp++ }
func (s *Stream) ClearRouteCache()  { s.RouteCleared++ }

// Reply is the last local reply sent, nil when none.
func (s *Stream) Reply() *core.LocalReply {
	if len(s.Replies) == 0 {
		return nil
	}
	return &s.Replies[len(s.Replies)-1]
}

func (s *Stream) HTTPCall(req core.CalloutRequest, done func(core.CalloutResponse)) error {
	if s.CalloutErr != nil {
		return s.CalloutErr
	}
	if s.Clusters != nil && !s.Clusters[req.Cluster] {
		return fmt.Errorf("cluster %q not found", req.Cluster)
	}
	if s.CalloutInline != nil {
		s.Mu.Lock()
		s.Callouts = append(s.Callouts, Callout{Req: req})
		s.Mu.Unlock()
		done(*s.CalloutInline)
		return nil
	}
	s.Mu.Lock()
	s.Callouts = append(s.Callouts, Callout{req, done})
	s.Mu.Unlock()
	return nil
}

func (s *Stream) Post(fn func()) {
	if !s.QueuePosts {
		fn()
		return
	}
	s.Mu.Lock()
	s.Posted = append(s.Posted, fn)
	s.Mu.Unlock()
}

// Pump runs posted functions and answers pending callouts with answer until nothing is
// pending.
func (s *Stream) Pump(answer func(core.CalloutRequest) core.CalloutResponse) {
	for {
		s.Mu.Lock()
		posted, calls := s.Posted, s.Callouts
		s.Posted, s.Callouts = nil, nil
		s.Mu.Unlock()
		if len(posted) == 0 && len(calls) == 0 {
			return
		}
		for _, fn := range posted {
			fn()
		}
		for _, c := range calls {
			if c.Done != nil {
				c.Done(answer(c.Req))
			}
		}
	}
}

func (s *Stream) Log(level core.LogLevel, msg string) {
	if s.LogSleep > 0 {
		time.Sleep(s.LogSleep)
	}
	s.Mu.Lock()
	s.Logs = append(s.Logs, LogLine{level, msg})
	s.Mu.Unlock()
}

func (s *Stream) LogEnabled(level core.LogLevel) bool { return level >= s.LogMin }

func (s *Stream) Counter(id core.MetricID, delta uint64) {
	s.Mu.Lock()
	s.Counters[id] += delta
	s.Mu.Unlock()
}

func (s *Stream) Gauge(id core.MetricID, delta int64) {
	s.Mu.Lock()
	s.Gauges[id] += delta
	s.Mu.Unlock()
}

func (s *Stream) Histogram(id core.MetricID, v uint64) {
	s.Mu.Lock()
	s.Hists[id] = append(s.Hists[id], v)
	s.Mu.Unlock()
}

// Logged reports whether a logged message contains substr.
func (s *Stream) Logged(substr string) bool {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	for _, l := range s.Logs {
		if strings.Contains(l.Msg, substr) {
			return true
		}
	}
	return false
}

// LogText is every logged line as "[level] message".
func (s *Stream) LogText() string {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	var b strings.Builder
	for _, l := range s.Logs {
		fmt.Fprintf(&b, "[%d] %s\n", l.Level, l.Msg)
	}
	return b.String()
}

// Host is the one recording core.ConfigHost: metric ids are 1, 2, … in definition order.
type Host struct {
	Mu    sync.Mutex
	Names []string
	Logs  []string
}

func (h *Host) define(name string) (core.MetricID, error) {
	h.Mu.Lock()
	defer h.Mu.Unlock()
	h.Names = append(h.Names, name)
	return core.MetricID(len(h.Names)), nil
}

func (h *Host) DefineCounter(name string) (core.MetricID, error)   { return h.define(name) }
func (h *Host) DefineGauge(name string) (core.MetricID, error)     { return h.define(name) }
func (h *Host) DefineHistogram(name string) (core.MetricID, error) { return h.define(name) }

func (h *Host) Log(_ core.LogLevel, msg string) {
	h.Mu.Lock()
	defer h.Mu.Unlock()
	h.Logs = append(h.Logs, msg)
}

// ID is the id of the metric defined as name, 0 when none.
func (h *Host) ID(name string) core.MetricID {
	h.Mu.Lock()
	defer h.Mu.Unlock()
	for i, n := range h.Names {
		if n == name {
			return core.MetricID(i + 1)
		}
	}
	return 0
}
