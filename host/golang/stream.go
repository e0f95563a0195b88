package golang

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/trafficext/trafficext/core"
	"github.com/trafficext/trafficext/extconfig"
)

// direction is the half of the stream an event belongs to.
type direction int

const (
	decoding direction = iota
	encoding
)

// phase is the kind of event within a direction.
type phase int

const (
	headersPhase phase = iota
	dataPhase
	trailersPhase
)

// Factory is the api.StreamFilterFactory: it starts the extension for one stream. config is
// the value Parse or Merge returned for the stream's route.
func (p *Plugin) Factory(config any, cb api.FilterCallbackHandler) (f api.StreamFilter) {
	defer func() {
		if r := recover(); r != nil {
			logPackage(core.LogError, fmt.Sprintf("trafficext: creating filter: panic: %v\n%s", r, debug.Stack()))
			f = &failedFilter{cb: cb}
		}
	}()
	h, ok := config.(*configHandle)
	if !ok || !h.c.acquire() {
		logPackage(core.LogError, fmt.Sprintf("trafficext: creating filter: unusable config %T", config))
		return &failedFilter{cb: cb}
	}
	s := &stream{cfg: h.c, cb: cb}
	s.h = h.c.core.NewStream(s)
	return s
}

// stream is one extension on one HTTP stream: the api.StreamFilter Envoy calls, and the
// core.Stream the extension sees.
type stream struct {
	cfg *sharedConfig
	cb  api.FilterCallbackHandler
	h   *core.StreamHandler

	// mu serialises events (Envoy's worker thread) with posted functions (goroutines).
	mu        sync.Mutex
	dir       direction // direction of the current or last event
	inEvent   bool      // an event callback is running
	replied   bool      // SendLocalReply was called in the current event or posted function
	held      [2]bool   // the direction returned api.Running and was not resumed yet
	continued [2]bool   // Continue* was called for the direction during the current event
	destroyed bool
	posted    atomic.Bool // Post was called since the current event started

	reqHeaders, reqTrailers, respHeaders, respTrailers *headerMap
	body                                               [2]api.BufferInstance // valid buffer of the direction, or nil

	postMu   sync.Mutex
	queue    []func()
	draining bool

	// calls is the context of the stream's gateway callouts, cancelled on destroy.
	calls       context.Context
	cancelCalls context.CancelFunc
}

var (
	_ api.StreamFilter = (*stream)(nil)
	_ core.Stream      = (*stream)(nil)
)

// DecodeHeaders handles the request headers.
func (s *stream) DecodeHeaders(h api.RequestHeaderMap, endStream bool) api.StatusType {
	return s.event(decoding, headersPhase, endStream, func() core.Status {
		s.reqHeaders = newRequestHeaders(s, h)
		return s.h.RequestHeaders(endStream)
	})
}

// DecodeData handles a request body chunk (the whole body after api.StopAndBuffer).
func (s *stream) DecodeData(b api.BufferInstance, endStream bool) api.StatusType {
	return s.event(decoding, dataPhase, endStream, func() core.Status {
		s.body[decoding] = b
		return s.h.RequestBody(endStream)
	})
}

// DecodeTrailers handles the request trailers.
func (s *stream) DecodeTrailers(t api.RequestTrailerMap) api.StatusType {
	return s.event(decoding, trailersPhase, true, func() core.Status {
		s.reqTrailers = newHeaderMap(s, t)
		return s.h.RequestTrailers()
	})
}

// EncodeHeaders handles the response headers.
func (s *stream) EncodeHeaders(h api.ResponseHeaderMap, endStream bool) api.StatusType {
	return s.event(encoding, headersPhase, endStream, func() core.Status {
		s.respHeaders = newResponseHeaders(s, h)
		return s.h.ResponseHeaders(endStream)
	})
}

// EncodeData handles a response body chunk (the whole body after api.StopAndBuffer).
func (s *stream) EncodeData(b api.BufferInstance, endStream bool) api.StatusType {
	return s.event(encoding, dataPhase, endStream, func() core.Status {
		s.body[encoding] = b
		return s.h.ResponseBody(endStream)
	})
}

// EncodeTrailers handles the response trailers.
func (s *stream) EncodeTrailers(t api.ResponseTrailerMap) api.StatusType {
	return s.event(encoding, trailersPhase, true, func() core.Status {
		s.respTrailers = newHeaderMap(s, t)
		return s.h.ResponseTrailers()
	})
}

// OnLog, OnLogDownstreamStart and OnLogDownstreamPeriodic are not used: extensions have no
// access-log hook.
func (s *stream) OnLog(api.RequestHeaderMap, api.RequestTrailerMap, api.ResponseHeaderMap, api.ResponseTrailerMap) {
}
func (s *stream) OnLogDownstreamStart(api.RequestHeaderMap) {}
func (s *stream) OnLogDownstreamPeriodic(api.RequestHeaderMap, api.RequestTrailerMap, api.ResponseHeaderMap, api.ResponseTrailerMap) {
}

// OnStreamComplete tells the extension the stream is done.
func (s *stream) OnStreamComplete() {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.recoverQuietly("stream complete")
	if !s.destroyed {
		s.h.StreamComplete()
	}
}

// OnDestroy releases the extension's stream state and the stream's reference to its
// configuration. Posted functions still queued are dropped.
func (s *stream) OnDestroy(api.DestroyReason) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return
	}
	s.destroyed = true
	if s.cancelCalls != nil {
		s.cancelCalls()
	}
	defer s.cfg.release()
	defer s.recoverQuietly("destroy")
	s.h.Destroy()
	s.body = [2]api.BufferInstance{}
}

// event runs one event of direction d under the stream mutex and maps the core status.
func (s *stream) event(d direction, ph phase, endStream bool, run func() core.Status) (st api.StatusType) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dir, s.inEvent, s.replied, s.continued[d] = d, true, false, false
	s.posted.Store(false)
	defer func() {
		s.inEvent = false
		if r := recover(); r != nil {
			st = s.lastResort(d, r)
		}
	}()
	return s.settle(d, ph, endStream, run())
}

// settle turns the core status of an event into the golang filter's (see the package
// documentation for the table).
func (s *stream) settle(d direction, ph phase, endStream bool, cs core.Status) api.StatusType {
	if s.replied {
		return api.LocalReply
	}
	switch cs {
	case core.Replied:
		// The engine claims a reply it never sent; answer rather than stall the stream.
		s.reply(d, core.LocalReply{Status: 500, Body: []byte("trafficext: no local reply\n"), Details: "trafficext_missing_reply"})
		return api.LocalReply
	case core.StopIteration, core.StopAndBuffer:
		switch {
		case s.continued[d]:
			// resumed during the event itself
		case endStream || ph == trailersPhase || s.posted.Load():
			// Only asynchronous work can resume the direction now: Go holds it.
			s.held[d] = true
			return api.Running
		case ph == headersPhase || cs == core.StopAndBuffer:
			// The next data event of the direction brings the whole (rest of the) body.
			return api.StopAndBuffer
		default:
			// Keep this chunk and go on delivering the next ones.
			return api.StopAndBufferWatermark
		}
	case core.Continue:
	default:
		s.Log(core.LogWarn, fmt.Sprintf("trafficext: extension %q returned unknown status %d; continuing", s.name(), int(cs)))
	}
	s.endPhase(d)
	return api.Continue
}

// endPhase is called when direction d stops being processed in Go: its header maps become
// read-only snapshots and its body buffer is no longer valid.
func (s *stream) endPhase(d direction) {
	s.held[d] = false
	s.body[d] = nil
	if d == decoding {
		s.reqHeaders.freeze()
		s.reqTrailers.freeze()
	} else {
		s.respHeaders.freeze()
		s.respTrailers.freeze()
	}
}

// lastResort handles a panic that escaped the core's own guards (a bug in this binding or a
// golang filter API refusing a call) by the extension's fail strategy.
func (s *stream) lastResort(d direction, r any) api.StatusType {
	s.Log(core.LogError, fmt.Sprintf("trafficext: extension %q: binding panic: %v\n%s", s.name(), r, debug.Stack()))
	if s.replied {
		return api.LocalReply
	}
	if s.cfg.core.Extension().EffectiveFailStrategy() != extconfig.FailOpen && s.tryReply(d) {
		return api.LocalReply
	}
	s.endPhase(d)
	return api.Continue
}

// tryReply answers 500 and reports whether the golang filter accepted it.
func (s *stream) tryReply(d direction) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			ok = false
		}
	}()
	s.reply(d, core.LocalReply{
		Status:  500,
		Body:    []byte("trafficext: extension " + s.name() + " failed\n"),
		Details: "trafficext_extension_failed",
	})
	return true
}

func (s *stream) name() string { return s.cfg.core.Extension().Name }

// recoverQuietly is deferred where the stream is finishing and no answer is possible.
func (s *stream) recoverQuietly(what string) {
	if r := recover(); r != nil {
		logPackage(core.LogError, fmt.Sprintf("trafficext: extension %q: %s: panic: %v", s.name(), what, r))
	}
}

// callbacks returns the process callbacks of direction d.
func (s *stream) callbacks(d direction) api.FilterProcessCallbacks {
	if d == encoding {
		return s.cb.EncoderFilterCallbacks()
	}
	return s.cb.DecoderFilterCallbacks()
}

// --- core.Stream: flow control ---

// SendLocalReply answers the stream from the direction of the current event (or of the held
// direction, from a posted function).
func (s *stream) SendLocalReply(r core.LocalReply) { s.reply(s.dir, r) }

func (s *stream) reply(d direction, r core.LocalReply) {
	var headers map[string][]string
	for _, h := range r.Headers {
		k := strings.ToLower(h.Key)
		if k == ":status" {
			continue
		}
		if headers == nil {
			headers = make(map[string][]string, len(r.Headers))
		}
		headers[k] = append(headers[k], h.Value)
	}
	s.endPhase(d)
	s.replied = true
	s.callbacks(d).SendLocalReply(r.Status, string(r.Body), headers, grpcStatus(r.Status), r.Details)
}

// ContinueRequest resumes the request held by an earlier event.
func (s *stream) ContinueRequest() { s.resume(decoding) }

// ContinueResponse resumes the response held by an earlier event.
func (s *stream) ContinueResponse() { s.resume(encoding) }

func (s *stream) resume(d direction) {
	if s.inEvent && s.dir == d {
		s.continued[d] = true
		return
	}
	if !s.held[d] || s.destroyed {
		return
	}
	s.endPhase(d)
	s.callbacks(d).Continue(api.Continue)
}

// ClearRouteCache makes Envoy pick the route again.
func (s *stream) ClearRouteCache() { s.cb.ClearRouteCache() }

// HTTPCall sends the call through the proxy's callout gateway, since the golang filter has
// no Envoy-mediated callout API; done runs as a posted function, and the event that started
// the call holds its direction until then. Without a gateway in the extension's config (the
// control plane adds one for Wasm extensions) it is unsupported.
func (s *stream) HTTPCall(req core.CalloutRequest, done func(core.CalloutResponse)) error {
	gw := s.cfg.gateway
	if gw == nil {
		return fmt.Errorf("http callout to cluster %q from the golang filter without a callout gateway: %w", req.Cluster, core.ErrUnsupported)
	}
	if s.destroyed {
		return fmt.Errorf("http callout to cluster %q: the stream is gone", req.Cluster)
	}
	if s.calls == nil {
		s.calls, s.cancelCalls = context.WithCancel(context.Background())
	}
	s.posted.Store(true)
	ctx := s.calls
	go func() {
		res, err := gw.Do(ctx, req)
		s.Post(func() {
			if err != nil {
				done(core.CalloutResponse{Err: err})
				return
			}
			done(core.CalloutResponse{Headers: res.Headers, Body: res.Body})
		})
	}()
	return nil
}

// Post queues fn; a goroutine runs the queue in order under the stream mutex (see the package
// documentation).
func (s *stream) Post(fn func()) {
	s.posted.Store(true)
	s.postMu.Lock()
	s.queue = append(s.queue, fn)
	start := !s.draining
	s.draining = true
	s.postMu.Unlock()
	if start {
		go s.drain()
	}
}

func (s *stream) drain() {
	for {
		s.postMu.Lock()
		if len(s.queue) == 0 {
			s.draining = false
			s.postMu.Unlock()
			return
		}
		fn := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		s.postMu.Unlock()
		s.runPosted(fn)
	}
}

func (s *stream) runPosted(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return
	}
	s.replied = false
	defer func() {
		r := recover()
		switch {
		case r == nil:
		case s.held[s.dir]:
			s.lastResortAsync(r)
		default:
			logPackage(core.LogError, fmt.Sprintf("trafficext: extension %q: posted function: panic while no direction is held: %v", s.name(), r))
		}
	}()
	fn()
}

// lastResortAsync is lastResort for a held direction outside an event: the direction is
// answered or resumed.
func (s *stream) lastResortAsync(r any) {
	defer s.recoverQuietly("posted function")
	d := s.dir
	if s.lastResort(d, r) == api.Continue {
		s.callbacks(d).Continue(api.Continue)
	}
}

// --- core.Stream: logging and metrics ---

// Log writes to Envoy's log, prefixed "[http][trafficext]" by the golang filter.
func (s *stream) Log(level core.LogLevel, msg string) { s.cb.Log(logType(level), msg) }

// LogEnabled reports whether level would be written.
func (s *stream) LogEnabled(level core.LogLevel) bool { return s.cb.LogLevel() <= logType(level) }

// Counter adds delta to a counter of the configuration.
func (s *stream) Counter(id core.MetricID, delta uint64) {
	if m := s.cfg.host.metric(id); m.counter != nil {
		m.counter.Increment(int64(delta))
	}
}

// Gauge adds delta to a gauge of the configuration.
func (s *stream) Gauge(id core.MetricID, delta int64) {
	if m := s.cfg.host.metric(id); m.gauge != nil {
		m.gauge.Increment(delta)
	}
}

// Histogram drops the value: the golang filter has no histograms.
func (s *stream) Histogram(core.MetricID, uint64) {}

// grpcStatus is the gRPC status a local reply carries for gRPC requests, as Envoy derives it
// from an HTTP status (Grpc::Utility::httpToGrpcStatus). The golang filter always passes one.
func grpcStatus(httpStatus int) int64 {
	if httpStatus >= 200 && httpStatus < 300 {
		return 0 // OK
	}
	return core.HTTPToGRPCStatus(int64(httpStatus))
}

// failedFilter answers 500 to every request: the factory got a config it cannot use (a bug,
// since Envoy only hands the factory values that Parse or Merge returned).
type failedFilter struct {
	api.PassThroughStreamFilter
	cb api.FilterCallbackHandler
}

func (f *failedFilter) DecodeHeaders(api.RequestHeaderMap, bool) (st api.StatusType) {
	defer func() {
		if r := recover(); r != nil {
			st = api.Continue
		}
	}()
	f.cb.DecoderFilterCallbacks().SendLocalReply(500, "trafficext: filter unavailable\n", nil, grpcStatus(500), "trafficext_filter_unavailable")
	return api.LocalReply
}
