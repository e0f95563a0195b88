package core

import (
	"fmt"

	"runtime/debug"
	"strings"

	"github.com/trafficext/trafficext/extconfig"
)

// StreamHandler drives one extension for one stream. A binding creates it with
// Config.NewStream and calls the event methods; every call into the engine is guarded so that
// a panic never escapes into the host, and the fail strategy decides what the stream sees.
type StreamHandler struct {
	cfg    *Config
	stream *guardedStream // &guarded
	// guarded is the stream handed to the engine, part of the handler so that a stream
	// costs one allocation fewer.
	guarded  guardedStream
	filter   Filter
	disabled bool // the extension failed and is skipped for the rest of the stream
	replied  bool // a local reply was sent
	// initFailed says the extension panicked while starting for this stream.
	initFailed bool
	response   bool // the response direction has started
}

// NewStream starts the extension for one stream.
func (c *Config) NewStream(s Stream) *StreamHandler {
	h := &StreamHandler{cfg: c}
	h.guarded = guardedStream{Stream: s, h: h}
	h.stream = &h.guarded
	if c.plugin != nil {
		func() {
			defer func() {
				if p := recover(); p != nil {
					h.logPanic(p)
					h.initFailed = true
				}
			}()
			h.filter = c.plugin.NewFilter(h.stream)
		}()
	}
	return h
}

// RequestHeaders handles the request headers.
func (h *StreamHandler) RequestHeaders(endStream bool) Status {
	if h.cfg.startErr != nil {
		h.stream.Counter(h.cfg.stats.startFailed, 1)
		if h.cfg.ext.Deny == nil { // FAIL_OPEN
			h.stream.Counter(h.cfg.stats.failOpen, 1)
			return Continue
		}
	}
	if d := h.cfg.ext.Deny; d != nil {
		h.stream.Counter(h.cfg.stats.denied, 1)
		h.stream.SendLocalReply(LocalReply{Status: d.Status, Body: []byte(d.Body), Details: "trafficext_extension_unavailable"})
		return Replied
	}
	if h.initFailed {
		h.initFailed = false
		return h.applyStrategy()
	}
	return h.call(func() Status {
		h.cfg.fault.maybePanic(h.stream, h.cfg.ext.Name)
		return h.filter.OnRequestHeaders(endStream)
	})
}

// RequestBody handles a request body chunk.
func (h *StreamHandler) RequestBody(endStream bool) Status {
	return h.call(func() Status { return h.filter.OnRequestBody(endStream) })
}

// RequestTrailers handles the request trailers.
func (h *StreamHandler) RequestTrailers() Status {
	return h.call(func() Status { return h.filter.OnRequestTrailers() })
}

// ResponseHeaders handles the response headers.
func (h *StreamHandler) ResponseHeaders(endStream bool) Status {
	h.response = true
	return h.call(func() Status { return h.filter.OnResponseHeaders(endStream) })
}

// ResponseBody handles a response body chunk.
func (h *StreamHandler) ResponseBody(endStream bool) Status {
	h.response = true
	return h.call(func() Status { return h.filter.OnResponseBody(endStream) })
}

// ResponseTrailers handles the response trailers.
func (h *StreamHandler) ResponseTrailers() Status {
	h.response = true
	return h.call(func() Status { return h.filter.OnResponseTrailers() })
}

// StreamComplete tells the extension the stream is done.
func (h *StreamHandler) StreamComplete() {
	if h.filter != nil {
		h.guard(func() { h.filter.OnStreamComplete() })
	}
}

// Destroy releases the extension's stream state. No event may follow.
func (h *StreamHandler) Destroy() {
	if h.filter != nil {
		h.guard(func() { h.filter.OnDestroy() })
		h.filter = nil
	}
	h.disabled = true
}

// call runs an engine event unless the extension is skipped for this stream.
func (h *StreamHandler) call(fn func() Status) (st Status) {
	if h.disabled || h.filter == nil {
		return Continue
	}
	defer func() {
		if p := recover(); p != nil {
			st = h.fail(p)
		}
	}()
	return fn()
}

// guard runs fn and contains a panic without a fail-strategy answer (used where the stream is
// already finishing).
func (h *StreamHandler) guard(fn func()) {
	defer func() {
		if p := recover(); p != nil {
			h.logPanic(p)
		}
	}()
	fn()
}

func (h *StreamHandler) logPanic(p any) {
	h.stream.Counter(h.cfg.stats.panics, 1)
	stack := string(debug.Stack())
	if i := strings.Index(stack, "panic("); i > 0 {
		stack = stack[i:]
	}
	h.stream.Log(LogError, fmt.Sprintf("trafficext: extension %q panicked: %v\n%s", h.cfg.ext.Name, p, stack))
}

// fail applies the fail strategy after a panic in an event and returns the event's status.
func (h *StreamHandler) fail(p any) Status {
	h.logPanic(p)
	return h.applyStrategy()
}

// applyStrategy skips the extension for the rest of the stream and answers as the fail
// strategy says.
func (h *StreamHandler) applyStrategy() Status {
	h.disabled = true
	if h.cfg.ext.EffectiveFailStrategy() == extconfig.FailOpen {
		h.stream.Counter(h.cfg.stats.failOpen, 1)
		return Continue
	}
	h.stream.Counter(h.cfg.stats.failClose, 1)
	if !h.replied {
		h.stream.SendLocalReply(LocalReply{
			Status:  500,
			Body:    []byte("trafficext: extension " + h.cfg.ext.Name + " failed\n"),
			Details: "trafficext_extension_failed",
		})
	}
	return Replied
}

// failAsync applies the fail strategy after a panic in work resumed outside an event (a posted
// function or a callout completion): the stopped direction is resumed or answered.
func (h *StreamHandler) failAsync(p any) {
	st := h.fail(p)
	if st == Continue {
		if h.response {
			h.stream.Stream.ContinueResponse()
		} else {
			h.stream.Stream.ContinueRequest()
		}
	}
}

// guardedStream is the Stream handed to engines: asynchronous completions run under the same
// panic guard as events, and local replies are remembered.
type guardedStream struct {
	Stream
	h *StreamHandler
}

func (g *guardedStream) SendLocalReply(r LocalReply) {
	g.h.replied = true
	g.Stream.SendLocalReply(r)
}

func (g *guardedStream) Post(fn func()) {
	g.Stream.Post(func() { g.runAsync(fn) })
}

func (g *guardedStream) HTTPCall(req CalloutRequest, done func(CalloutResponse)) error {
	return g.Stream.HTTPCall(req, func(r CalloutResponse) { g.runAsync(func() { done(r) }) })
}

func (g *guardedStream) runAsync(fn func()) {
	if g.h.disabled {
		return
	}
	defer func() {
		if p := recover(); p != nil {
			g.h.failAsync(p)
		}
	}()
	fn()
}
