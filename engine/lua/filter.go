package lua

import (
	"errors"
	"runtime"
	"runtime/debug"
	"strconv"

	glua "github.com/yuin/gopher-lua"

	"github.com/trafficext/trafficext/core"
)

// filter runs the script for one stream: envoy_on_request on the request direction and
// envoy_on_response on the response direction, each in its own coroutine.
type filter struct {
	p *plugin
	s core.Stream

	req, resp direction

	// dynamic metadata this stream's script set (see metadata.go)
	shadow []shadowEntry

	// replyHooked: respond()'s reply already went through envoy_on_response (localreply.go);
	// a host that calls the filter back for it anyway must not run the hook twice.
	replyHooked bool
}

var _ core.Filter = (*filter)(nil)

func (f *filter) OnRequestHeaders(endStream bool) core.Status {
	if !f.p.hasRequest {
		return core.Continue
	}
	return f.req.onHeaders(endStream)
}

func (f *filter) OnRequestBody(endStream bool) core.Status { return f.req.onBody(endStream) }
func (f *filter) OnRequestTrailers() core.Status           { return f.req.onTrailers() }

func (f *filter) OnResponseHeaders(endStream bool) core.Status {
	if !f.p.hasResponse || f.replyHooked {
		return core.Continue
	}
	return f.resp.onHeaders(endStream)
}

func (f *filter) OnResponseBody(endStream bool) core.Status { return f.resp.onBody(endStream) }
func (f *filter) OnResponseTrailers() core.Status           { return f.resp.onTrailers() }
func (f *filter) OnStreamComplete()                         {}

func (f *filter) OnDestroy() {
	f.req.abandon()
	f.resp.abandon()
}

// state is where a direction's coroutine is.
type state uint8

const (
	stIdle         state = iota // not started (or the hook is absent)
	stRunning                   // inside a call into the script
	stWaitBody                  // yielded in body() until the end of the body
	stWaitChunk                 // yielded in a bodyChunks() iteration until the next chunk
	stWaitTrailers              // yielded in trailers()
	stHTTPCall                  // yielded in a synchronous httpCall()
	stResponded                 // respond() sent a local reply; the coroutine is over
	stDone                      // the coroutine ended (normally or with an error)
)

// direction is one hook's coroutine and the Envoy-visible state around it (the handle
// wrapper of Envoy's Lua filter).
type direction struct {
	f        *filter
	response bool
	vm       *vm // held while the coroutine is alive
	st       state
	live     bool // the coroutine is running: host objects may be used

	endStream        bool // the direction has seen its end
	sawBody          bool
	bufferedBody     bool
	alwaysWrapBody   bool
	headersContinued bool
	routeCleared     bool
	repliedNow       bool // respond() ran during the current event
	abandoned        bool // the stream was destroyed while the coroutine ran
	trailers         core.HeaderMap

	// Host objects of this coroutine, embedded so that a request allocates one filter rather
	// than a userdata per object. They stay bound to this stream: a script that keeps one in
	// a global gets "object used outside of proper scope" later.
	uds struct {
		handle, hdr, trl, si, dm, fs, conn, md, ssl, route, vhost glua.LUserData
		connSI, connDM                                            glua.LUserData
	}
	bodyUD *glua.LUserData

	// Envoy's wrappers do not survive a yield: the handle's children (headers, body, trailers,
	// metadata, stream info, …) obtained before body(), trailers(), a bodyChunks() step or a
	// synchronous httpCall() are dead after it. epoch counts the yields; objects handed out
	// after the first one are allocated (fresh) rather than embedded, so that killing them
	// cannot revive an older reference.
	epoch    uint32
	fresh    []*glua.LUserData
	pubKeyUD *glua.LUserData // importPublicKey's object until the next yield
	epochUDs struct {        // the fresh objects of the current epoch, by kind
		hdr, trl, si, dm, fs, conn, md, ssl, route, vhost, connSI, connDM *glua.LUserData
	}
	keys         map[string]any // imported public keys by key string (verifySignature)
	freshBack    [4]*glua.LUserData
	hdr, trl     headersObj
	md           metadataObj
	route, vhost routeObj
	callout      calloutState
}

func (d *direction) init(f *filter, response bool) {
	d.f, d.response = f, response
	d.hdr = headersObj{d: d}
	d.trl = headersObj{d: d, trailers: true}
	d.md = metadataObj{d: d, ns: f.p.name, fallback: luaFilterName}
	d.route = routeObj{d: d}
	d.vhost = routeObj{d: d, vhost: true}
	d.fresh = d.freshBack[:0]
}

// deadObject is the value of a host object that did not survive a yield.
type deadObject struct{}

var deadDirection = &direction{}

func (deadObject) dir() *direction { return deadDirection }

// killObjects is Envoy's markDead at a yield: every object but the handle dies.
func (d *direction) killObjects() {
	d.epoch++
	for _, ud := range [...]*glua.LUserData{&d.uds.hdr, &d.uds.trl, &d.uds.si, &d.uds.dm, &d.uds.fs, &d.uds.conn,
		&d.uds.md, &d.uds.ssl, &d.uds.route, &d.uds.vhost, &d.uds.connSI, &d.uds.connDM} {
		if ud.Metatable != nil {
			ud.Value = deadObject{}
		}
	}
	for i, ud := range d.fresh {
		ud.Value = deadObject{}
		d.fresh[i] = nil
	}
	d.fresh = d.fresh[:0]
	d.bodyUD = nil
	d.pubKeyUD = nil
	d.epochUDs = struct {
		hdr, trl, si, dm, fs, conn, md, ssl, route, vhost, connSI, connDM *glua.LUserData
	}{}
}

// track registers an object made for this coroutine so that the next yield kills it.
func (d *direction) track(ud *glua.LUserData) *glua.LUserData {
	d.fresh = append(d.fresh, ud)
	return ud
}

func (d *direction) dir() *direction { return d }

// onHeaders starts the hook.
func (d *direction) onHeaders(endStream bool) core.Status {
	d.endStream = endStream
	d.repliedNow = false
	v, err := d.f.p.get()
	if err != nil {
		d.countError(errors.Is(err, errTopLevelTimeout))
		d.log(core.LogError, "script log: "+err.Error())
		d.headersContinued = true
		return core.Continue
	}
	d.vm = v
	v.cur = d
	fn := v.onRequest
	if d.response {
		fn = v.onResponse
	}
	d.run(fn, d.object(&d.uds.handle, d, v.mt.handle))
	switch {
	case d.st == stResponded:
		return core.Replied
	case d.st == stWaitBody || d.st == stHTTPCall:
		return core.StopIteration
	}
	d.headersContinued = true
	return core.Continue
}

func (d *direction) onBody(endStream bool) core.Status {
	d.repliedNow = false
	if d.vm == nil {
		return d.idleStatus()
	}
	d.endStream = endStream
	d.sawBody = true
	switch {
	case d.st == stWaitChunk:
		d.run(nil, d.bufferUD(d.body(), false))
	case d.st == stWaitBody && endStream:
		d.run(nil, d.bodyValue())
	case d.st == stWaitTrailers && endStream:
		d.run(nil, glua.LNil)
	}
	return d.settle(d.st == stHTTPCall || d.st == stWaitBody, core.StopAndBuffer)
}

func (d *direction) onTrailers() core.Status {
	d.repliedNow = false
	d.endStream = true
	d.trailers = d.trailerMap()
	if d.vm == nil {
		return d.idleStatus()
	}
	switch d.st {
	case stWaitChunk:
		d.run(nil, glua.LNil)
	case stWaitBody:
		d.run(nil, d.bodyValue())
	}
	if d.st == stWaitTrailers && d.vm != nil {
		d.run(nil, d.trailersValue())
	}
	return d.settle(d.st == stHTTPCall, core.StopIteration)
}

// settle answers a body or trailers event once the hook ran: stop while the hook still waits,
// the reply's status after respond(), else continue.
func (d *direction) settle(waiting bool, stop core.Status) core.Status {
	switch {
	case waiting:
		return stop
	case d.st == stResponded:
		return d.respondedStatus()
	}
	d.headersContinued = true
	return core.Continue
}

// idleStatus answers an event when no coroutine is alive.
func (d *direction) idleStatus() core.Status {
	if d.st == stResponded {
		return core.StopIteration
	}
	return core.Continue
}

func (d *direction) respondedStatus() core.Status {
	if d.repliedNow {
		return core.Replied
	}
	return core.StopIteration
}

// run starts (fn != nil) or resumes the coroutine with args and settles what follows.
func (d *direction) run(fn *glua.LFunction, args ...glua.LValue) {
	v := d.vm
	th := v.th
	if fn != nil {
		th = v.thread()
	}
	d.st = stRunning
	d.live = true
	d.routeCleared = false
	d.hdr.hm, d.trl.hm = nil, nil
	v.cur = d
	runtime.LockOSThread() // the CPU-time bound measures this thread (a no-op in a cgo callback)
	v.beginCall()
	v.dl.arm(d.f.p.opts.CallTimeout, d.f.p.opts.memMax())
	rs, err, _ := v.L.Resume(th, fn, args...)
	fired := v.dl.disarm()
	runtime.UnlockOSThread()
	d.live = false
	if d.abandoned {
		if v.hostPanic != nil || fired {
			v.poisoned = true
		}
		d.st = stDone
		d.drop(true)
		return
	}
	memHit := fired && err != nil && v.dl.memoryHit()
	timedOut := fired && err != nil && !memHit
	if fired && err == nil {
		// The bound expired after the script's last instruction: the call completed and is
		// not a timeout. Coroutines the script created were cancelled with the old context,
		// so the state is not reused when it has some; otherwise it stays healthy.
		v.dl.reset()
		if v.dl.pending() > 0 {
			v.poisoned = true
		}
	}
	if p := v.hostPanic; p != nil {
		v.poisoned = true
		d.drop(true)
		panic(p)
	}
	switch {
	case err != nil:
		if d.st != stResponded {
			d.st = stDone
		}
		d.drop(true)
		msg := errorText(err)
		if memHit {
			msg += " (" + strconv.FormatInt(d.f.p.opts.MaxCallAlloc>>20, 10) + " MiB allocated in one call)"
			// The runaway's garbage can be hundreds of MiB: give it back to the OS now rather
			// than at the scavenger's pace (off the worker thread).
			go debug.FreeOSMemory()
		}
		d.scriptError(msg, timedOut)
	case rs == glua.ResumeOK:
		if d.st != stResponded {
			d.st = stDone
		}
		d.drop(false)
	case d.st == stRunning:
		d.drop(true)
		d.scriptError("script performed an unexpected yield", timedOut)
	case d.st == stResponded:
		d.drop(true)
	}
}

// drop ends the coroutine: the thread is kept for reuse only after a normal end, and the state
// goes back to the plugin.
func (d *direction) drop(killThread bool) {
	v := d.vm
	if v == nil {
		return
	}
	if killThread {
		v.th = nil
	}
	if d.st == stRunning {
		d.st = stDone
	}
	d.vm = nil
	v.release()
}

// abandon ends a coroutine still waiting when the stream goes away.
func (d *direction) abandon() {
	d.live = false
	d.callout = calloutState{}
	if d.st == stRunning {
		// The stream went away inside a host call of the running coroutine (a local reply
		// sent outside a stream event): run() releases the state when the call returns and
		// touches the stream no more.
		d.abandoned = true
		return
	}
	if d.vm != nil {
		d.drop(true)
	}
}

// scriptError is Envoy's Filter::scriptError: log, count, and let the stream continue.
func (d *direction) scriptError(msg string, timedOut bool) {
	d.countError(timedOut)
	if timedOut {
		msg += " (call timeout " + d.f.p.opts.CallTimeout.String() + " CPU time)"
	}
	d.log(core.LogError, "script log: "+msg)
}

func (d *direction) countError(timedOut bool) {
	d.f.s.Counter(d.f.p.stats.errors, 1)
	if timedOut {
		d.f.s.Counter(d.f.p.stats.timeouts, 1)
	}
}

func (d *direction) log(lvl core.LogLevel, msg string) {
	if d.f.s.LogEnabled(lvl) {
		d.f.s.Log(lvl, msg)
	}
}

// resumeAsync resumes the coroutine outside a stream event (a callout completion) and resumes
// the stopped direction when the script no longer holds it.
func (d *direction) resumeAsync(args ...glua.LValue) {
	d.repliedNow = false
	d.run(nil, args...)
	if d.abandoned {
		return
	}
	switch d.st {
	case stHTTPCall, stResponded:
		return
	case stWaitBody:
		if !d.endStream {
			return
		}
	}
	d.headersContinued = true
	if d.response {
		d.f.s.ContinueResponse()
	} else {
		d.f.s.ContinueRequest()
	}
}

// yield suspends the coroutine until the event that moves it out of st.
func (d *direction) yield(L *glua.LState, st state) int {
	if !d.canYield(L) {
		L.RaiseError("attempt to yield across a C-call boundary (body(), bodyChunks() or trailers() inside a metamethod, a sort comparator or a gsub callback)")
	}
	d.st = st
	d.killObjects()
	return L.Yield()
}

// canYield reports whether a host function called on thread L may yield the hook's coroutine:
// L must be the hook's own thread or a pcall coroutine running (through pcalls) in it, not a
// coroutine the script made, and no Go-called function may sit in between.
func (d *direction) canYield(L *glua.LState) bool {
	if d.vm == nil {
		return false
	}
	th, hops := d.vm.hookThreadOf(L)
	return th == d.vm.th && yieldableThrough(hops)
}
