package wasm

import (
	"fmt"

	"github.com/tetratelabs/wazero/api"

	"github.com/trafficext/trafficext/filter/core"
)

// filter is one stream context (core.Filter) on a VM.
type filter struct {
	p        *plugin
	v        *vm
	s        core.Stream
	id       uint32
	startErr error

	created   bool
	failed    bool // the fail strategy was applied; later events pass
	replied   bool // a local reply was sent
	completed bool // proxy_on_log ran

	// reqPaused / respPaused: a direction is stopped on behalf of the guest;
	// reqHeadersPaused / respHeadersPaused: by its headers callback, which in Envoy stops all
	// iteration: body arriving meanwhile is buffered (held) and handed to the guest on resume.
	reqPaused, respPaused               bool
	reqHeadersPaused, respHeadersPaused bool
	reqHeld, reqHeldEnd                 bool
	respHeld, respHeldEnd               bool
	contReq, contResp                   bool // the guest asked to resume a direction
	dispatching                         bool // inside Stream.HTTPCall

	// cb is the stream callback running (properties.go: Envoy's attributes see a header map
	// only during its callback, while it is paused, and in proxy_on_log).
	cb callback
	// props / declared: properties set and declared by this stream context (declared.go).
	props    map[string]*celState
	declared map[string]celPrototype
	// pairs is reused to serialize this stream's header maps for the guest (headers.go).
	pairs []byte

	// argv holds the arguments of the stream callback being called (see callWith): wazero
	// copies them when the call starts, so one array serves every call of the stream.
	argv [3]uint64
}

var _ core.Filter = (*filter)(nil)

// ensure creates the stream context in the guest (proxy_on_context_create) at the first
// event, as Envoy does.
func (f *filter) ensure() error {
	if f.startErr != nil {
		return f.startErr
	}
	if f.created {
		return nil
	}
	f.created = true
	v := f.v
	v.mu.Lock()
	f.id = v.nextID
	v.nextID++
	v.filters[f.id] = f
	v.mu.Unlock()
	_, err := f.callWith(v.fns.onContextCreate, 2, uint64(v.rootID), 0)
	return err
}

// callWith calls a stream callback whose arguments are this context's id followed by the
// first n-1 of a1, a2, without allocating them.
func (f *filter) callWith(fn api.Function, n int, a1, a2 uint64) (uint64, error) {
	f.argv = [3]uint64{uint64(f.id), a1, a2}
	return f.call(fn, f.argv[:n]...)
}

// call runs a stream callback with this context effective and applies what the guest asked
// for; a trap returns an error.
func (f *filter) call(fn api.Function, args ...uint64) (uint64, error) {
	if fn == nil {
		return 0, nil
	}
	f.p.flushMetrics(f.s)
	r, touched, err := f.v.run(f, func() (uint64, error) { return f.v.call(fn, args...) })
	for _, t := range touched {
		if t != f {
			t.afterAsync()
		}
	}
	return r, err
}

// fail applies the fail strategy after a trap in an event: FAIL_OPEN lets the stream pass;
// otherwise the stream is answered 503 with details wasm_fail_stream, as Envoy's Wasm filter
// does.
func (f *filter) fail(err error) core.Status {
	if !f.failed {
		f.failed = true
		f.s.Counter(f.p.trapCounter, 1)
		f.s.Log(core.LogError, fmt.Sprintf("wasm: extension %q failed: %v", f.p.ext.Name, err))
	}
	if f.p.failOpen {
		return core.Continue
	}
	if f.replied {
		return core.Replied
	}
	f.replied = true
	f.s.SendLocalReply(core.LocalReply{Status: 503, Details: "wasm_fail_stream"})
	return core.Replied
}

// failAsync applies the fail strategy after a trap outside an event.
func (f *filter) failAsync(err error) {
	if f.fail(err) == core.Continue {
		if f.reqPaused {
			f.reqPaused, f.reqHeadersPaused = false, false
			f.s.ContinueRequest()
		}
		if f.respPaused {
			f.respPaused, f.respHeadersPaused = false, false
			f.s.ContinueResponse()
		}
	}
}

// afterAsync applies resumes the guest asked for in a call that ran outside this stream's
// events (an HTTP call response, a queue or tick callback).
func (f *filter) afterAsync() {
	if f.v == nil || f.failed || f.replied {
		return
	}
	if f.contReq {
		f.contReq = false
		f.resumeRequest()
	}
	if f.contResp {
		f.contResp = false
		f.resumeResponse()
	}
}

func (f *filter) resumeRequest() {
	if !f.reqPaused {
		return
	}
	if f.reqHeadersPaused && f.reqHeld {
		f.reqHeadersPaused, f.reqHeld = false, false
		r, err := f.callWith(f.v.fns.onRequestBody, 3, uint64(f.s.RequestBody().Len()), b2u(f.reqHeldEnd))
		if err != nil {
			f.failAsync(err)
			return
		}
		if f.replied {
			return
		}
		if uint32(r) == actionPause && !f.contReq {
			return // now buffering the body on behalf of the guest
		}
		f.contReq = false
	}
	f.reqPaused, f.reqHeadersPaused = false, false
	f.s.ContinueRequest()
}

func (f *filter) resumeResponse() {
	if !f.respPaused {
		return
	}
	if f.respHeadersPaused && f.respHeld {
		f.respHeadersPaused, f.respHeld = false, false
		r, err := f.callWith(f.v.fns.onResponseBody, 3, uint64(f.s.ResponseBody().Len()), b2u(f.respHeldEnd))
		if err != nil {
			f.failAsync(err)
			return
		}
		if f.replied {
			return
		}
		if uint32(r) == actionPause && !f.contResp {
			return
		}
		f.contResp = false
	}
	f.respPaused, f.respHeadersPaused = false, false
	f.s.ContinueResponse()
}

const (
	kindHeaders = iota
	kindBody
	kindTrailers
)

// event runs one stream event of a direction (response false: request): fn with n
// arguments, the context id then a1, a2 (see callWith).
func (f *filter) event(response bool, kind int, fn api.Function, n int, a1, a2 uint64) core.Status {
	if f.failed {
		if f.replied && !response {
			return core.Replied
		}
		return core.Continue
	}
	if f.replied && !response {
		return core.Replied
	}
	if err := f.ensure(); err != nil {
		return f.fail(err)
	}
	f.cb = callbackOf(response, kind)
	r, err := f.callWith(fn, n, a1, a2)
	f.cb = cbNone
	if err != nil {
		return f.fail(err)
	}
	if f.replied && !response {
		return core.Replied
	}
	st := core.Continue
	if uint32(r) == actionPause {
		st = core.StopIteration
		if kind == kindBody {
			st = core.StopAndBuffer
		}
	}
	if response {
		if f.contResp {
			f.contResp, st = false, core.Continue
		}
		f.respPaused = st != core.Continue
		f.respHeadersPaused = f.respPaused && kind == kindHeaders
	} else {
		if f.contReq {
			f.contReq, st = false, core.Continue
		}
		f.reqPaused = st != core.Continue
		f.reqHeadersPaused = f.reqPaused && kind == kindHeaders
	}
	return st
}

// headersEvent runs a headers callback: (context, headers) for ABI 0.1.0 guests, (context,
// headers, end_of_stream) otherwise.
func (f *filter) headersEvent(response bool, fn api.Function, headers uint64, end bool) core.Status {
	n := 3
	if f.v.fns.headersArity == 2 {
		n = 2
	}
	return f.event(response, kindHeaders, fn, n, headers, b2u(end))
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// entries is the size argument of a headers or trailers callback: the number of entries of
// the map, asked from the host only when the guest exports the callback (fn non-nil).
func entries(fn api.Function, m func() core.HeaderMap) uint64 {
	if fn == nil {
		return 0
	}
	hm := m()
	if hm == nil {
		return 0
	}
	return uint64(hm.Len())
}

// bufLen is entries for a body callback: the body's length.
func bufLen(fn api.Function, b func() core.Buffer) uint64 {
	if fn == nil {
		return 0
	}
	return uint64(b().Len())
}

func (f *filter) OnRequestHeaders(end bool) core.Status {
	if f.v == nil {
		return f.fail(f.startErr)
	}
	if err := f.ensure(); err != nil {
		return f.fail(err)
	}
	fn := f.v.fns.onRequestHeaders
	return f.headersEvent(false, fn, entries(fn, f.s.RequestHeaders), end)
}

func (f *filter) OnRequestBody(end bool) core.Status {
	if f.v == nil {
		return core.Continue
	}
	if f.reqHeadersPaused && !f.failed {
		f.reqHeld, f.reqHeldEnd = true, end
		return core.StopAndBuffer
	}
	fn := f.v.fns.onRequestBody
	return f.event(false, kindBody, fn, 3, bufLen(fn, f.s.RequestBody), b2u(end))
}

func (f *filter) OnRequestTrailers() core.Status {
	if f.v == nil {
		return core.Continue
	}
	if f.reqHeadersPaused && !f.failed {
		return core.StopIteration
	}
	fn := f.v.fns.onRequestTrailers
	return f.event(false, kindTrailers, fn, 2, entries(fn, f.s.RequestTrailers), 0)
}

func (f *filter) OnResponseHeaders(end bool) core.Status {
	if f.v == nil {
		return core.Continue
	}
	fn := f.v.fns.onResponseHeaders
	return f.headersEvent(true, fn, entries(fn, f.s.ResponseHeaders), end)
}

func (f *filter) OnResponseBody(end bool) core.Status {
	if f.v == nil {
		return core.Continue
	}
	if f.respHeadersPaused && !f.failed {
		f.respHeld, f.respHeldEnd = true, end
		return core.StopAndBuffer
	}
	fn := f.v.fns.onResponseBody
	return f.event(true, kindBody, fn, 3, bufLen(fn, f.s.ResponseBody), b2u(end))
}

func (f *filter) OnResponseTrailers() core.Status {
	if f.v == nil {
		return core.Continue
	}
	if f.respHeadersPaused && !f.failed {
		return core.StopIteration
	}
	fn := f.v.fns.onResponseTrailers
	return f.event(true, kindTrailers, fn, 2, entries(fn, f.s.ResponseTrailers), 0)
}

// OnStreamComplete runs proxy_on_log (Envoy calls it from the access log, before on_done).
func (f *filter) OnStreamComplete() {
	if f.v == nil || !f.created || f.v.broken.Load() || f.completed {
		return
	}
	f.completed = true
	f.cb = cbLog
	f.callWith(f.v.fns.onLog, 1, 0, 0)
	f.cb = cbNone
}

// OnDestroy runs proxy_on_done and proxy_on_delete and leaves the VM.
func (f *filter) OnDestroy() {
	if f.v == nil {
		return
	}
	v := f.v
	if f.created && !v.broken.Load() {
		if !f.completed {
			f.completed = true
			f.cb = cbLog
			f.callWith(v.fns.onLog, 1, 0, 0)
			f.cb = cbNone
		}
		f.callWith(v.fns.onDone, 1, 0, 0)
		f.callWith(v.fns.onDelete, 1, 0, 0)
	}
	v.mu.Lock()
	delete(v.filters, f.id)
	if len(v.calls) > 0 {
		for id, c := range v.calls {
			if c == f {
				delete(v.calls, id)
			}
		}
	}
	v.mu.Unlock()
	v.active.Add(-1)
	f.v = nil
}
