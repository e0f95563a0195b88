package wasm

import (
	"fmt"

	"github.com/tetratelabs/wazero/api"

	"github.com/trafficext/trafficext/core"
)

// The Proxy-Wasm network (TCP) context, with the semantics of Envoy's Wasm network filter
// (extensions/common/wasm/context.cc onNewConnection/onData/onWrite/onEvent and
// proxy-wasm-cpp-host's ContextBase): the context is created at the new connection; a read
// calls proxy_on_downstream_data, a write proxy_on_upstream_data, and a write carrying the
// upstream's end of stream also proxy_on_upstream_connection_close(UNKNOWN); a close event
// calls proxy_on_downstream_connection_close(LOCAL|REMOTE) and then finishes the context
// (proxy_on_done, proxy_on_log, proxy_on_delete). A non-zero return stops the data: it stays
// in Envoy's buffer, and so readable by the guest, until it continues. A network context is a
// filter (the HTTP stream context) whose stream is connStream and whose net is set.

// netConn is the network state of a filter that is a network context.
type netConn struct {
	c core.Connection
	// readHeld / writeHeld: the guest may reach the read / write data (Envoy's
	// network_downstream_data_buffer_: set for the event, kept while it stops).
	readHeld, writeHeld bool
	downClosed          bool
	finished            bool // proxy_on_done, _log, _delete ran
	closing             bool // the guest (or the fail strategy) closed the connection
}

// netFilter is a filter that serves a connection (core.NetworkFilter).
type netFilter struct{ *filter }

var _ core.NetworkFilter = netFilter{}

// NewNetworkFilter creates a network context on one of the group's VMs, under the plugin's
// root context there.
func (p *plugin) NewNetworkFilter(c core.Connection) core.NetworkFilter {
	f := &filter{p: p, s: connStream{c}, net: &netConn{c: c}}
	v, err := p.g.pick(p)
	if err == nil {
		if f.r = v.rootOf(p); f.r == nil {
			v.active.Add(-1)
			err = errVMBroken
		}
	}
	if err != nil {
		p.log(core.LogError, "wasm: no VM for "+p.ext.Name+": "+err.Error())
		f.startErr = err
		return netFilter{f}
	}
	f.v = v
	return netFilter{f}
}

// netStatus is a callback's return: zero continues, anything else stops.
func netStatus(r uint64) core.NetworkStatus {
	if uint32(r) == 0 {
		return core.NetworkContinue
	}
	return core.NetworkStop
}

// failedStatus is what an event of a failed context answers (CHECK_FAIL_NET).
func (f netFilter) failedStatus() core.NetworkStatus {
	if f.p.failOpen {
		return core.NetworkContinue
	}
	return core.NetworkStop
}

// netFail applies the fail strategy after a trap: FAIL_OPEN lets the connection's data pass
// from now on; otherwise the connection is closed (FlushWrite), as failStream(Downstream)
// does in Envoy.
func (f netFilter) netFail(err error) core.NetworkStatus {
	first := !f.failed
	f.failed = true
	if first {
		f.s.Counter(f.p.trapCounter, 1)
		f.s.Log(core.LogError, fmt.Sprintf("wasm: extension %q failed on a connection: %v", f.p.ext.Name, err))
	}
	if !f.p.failOpen && !f.net.closing {
		f.net.closing = true
		f.net.c.Close(true, "")
	}
	return f.failedStatus()
}

// netCall runs a network callback of the context (context id, then n-1 of a1, a2).
func (f netFilter) netCall(fn api.Function, n int, a1, a2 uint64) (uint64, error) {
	if fn == nil {
		return 0, nil
	}
	return f.callWith(fn, n, a1, a2)
}

func (f netFilter) OnNewConnection() core.NetworkStatus {
	if f.v == nil {
		return f.netFail(f.startErr)
	}
	if err := f.ensure(); err != nil {
		return f.netFail(err)
	}
	r, err := f.netCall(f.v.fns.onNewConnection, 1, 0, 0)
	if err != nil {
		return f.netFail(err)
	}
	return netStatus(r)
}

// data runs a data callback with its buffer reachable; Continue makes it unreachable again.
func (f netFilter) data(fn api.Function, held *bool, n int, end bool) core.NetworkStatus {
	if f.v == nil || !f.created {
		return core.NetworkContinue
	}
	if f.failed {
		return f.failedStatus()
	}
	*held = true
	r, err := f.netCall(fn, 3, uint64(uint32(n)), b2u(end))
	if err != nil {
		return f.netFail(err)
	}
	st := netStatus(r)
	if st == core.NetworkContinue {
		*held = false
	}
	return st
}

func (f netFilter) OnDownstreamData(n int, end bool) core.NetworkStatus {
	if f.v == nil {
		return core.NetworkContinue
	}
	return f.data(f.v.fns.onDownstreamData, &f.net.readHeld, n, end)
}

// OnUpstreamData runs proxy_on_upstream_data; the upstream's end of stream also closes the
// upstream side for the guest (Envoy has no upstream connection event in a network filter).
func (f netFilter) OnUpstreamData(n int, end bool) core.NetworkStatus {
	if f.v == nil {
		return core.NetworkContinue
	}
	st := f.data(f.v.fns.onUpstreamData, &f.net.writeHeld, n, end)
	if end && f.created {
		f.closeSide(f.v.fns.onUpstreamClose, core.PeerUnknown)
		if f.net.downClosed {
			f.finish()
		}
	}
	return st
}

func (f netFilter) OnDownstreamClose(peer core.PeerType) {
	if f.v == nil || !f.created {
		return
	}
	f.closeSide(f.v.fns.onDownstreamClose, peer)
	f.net.downClosed = true
	f.finish()
}

// closeSide calls a connection-close callback unless the context failed.
func (f netFilter) closeSide(fn api.Function, peer core.PeerType) {
	if f.failed || f.v.broken.Load() {
		return
	}
	if _, err := f.netCall(fn, 2, uint64(peer), 0); err != nil {
		f.netFail(err)
	}
}

// finish is Envoy's onCloseTCP: proxy_on_done, proxy_on_log and proxy_on_delete, once.
func (f netFilter) finish() {
	if f.net.finished || !f.created {
		return
	}
	f.net.finished = true
	if f.v.broken.Load() {
		return
	}
	f.completed = true
	f.callWith(f.v.fns.onDone, 1, 0, 0)
	f.callWithThen(f.v.fns.onLog, 1, 0, 0, func() { f.cb = cbLog }, func(uint64, error) { f.cb = cbNone })
	f.callWith(f.v.fns.onDelete, 1, 0, 0)
}

// OnDestroy finishes a context whose connection ended without a close event and leaves the
// VM.
func (f netFilter) OnDestroy() {
	if f.v == nil {
		return
	}
	f.finish()
	v := f.v
	v.mu.Lock()
	delete(v.filters, f.id)
	for id, c := range v.calls {
		if c.f == f.filter {
			delete(v.calls, id)
		}
	}
	v.mu.Unlock()
	v.active.Add(-1)
	f.v = nil
}

// netBuffer is the data buffer of a network context (DOWNSTREAM_DATA / UPSTREAM_DATA): the
// connection's read or write data while the guest may reach it, otherwise empty (Envoy
// answers such a read with nothing and refuses a write).
func (v *vm) netBuffer(f *filter, t uint32) ([]byte, core.Buffer, status) {
	if f == nil || f.net == nil {
		return nil, nil, statusNotFound
	}
	if v.cur.offWorker {
		// A call on an engine goroutine: Envoy may be appending to the buffer on the worker.
		return nil, nil, statusOK
	}
	held, get := f.net.readHeld, f.net.c.ReadData
	if t == bufferUpstreamData {
		held, get = f.net.writeHeld, f.net.c.WriteData
	}
	if !held {
		return nil, nil, statusOK
	}
	b := get()
	if b == nil {
		return nil, nil, statusOK
	}
	return b.Bytes(), b, statusOK
}

// netSetBuffer is proxy_set_buffer_bytes on a data buffer, with Envoy's Buffer::copyFrom:
// start 0 drains size bytes then prepends the data (so (0, ≥ length) replaces it all); start
// at or past the end appends; anything else is BAD_ARGUMENT.
func netSetBuffer(v *vm, m api.Module, a []uint32) status {
	data, ok := read(m, a[3], a[4])
	if !ok {
		return statusInvalidMemory
	}
	cur, b, st := v.netBuffer(v.currentFilter(), a[0])
	if st != statusOK {
		return st
	}
	if b == nil {
		return statusBadArgument
	}
	start, size, n := int(a[1]), int(a[2]), len(cur)
	switch {
	case start == 0:
		rest := cur[min(size, n):]
		b.Set(append(append([]byte{}, data...), rest...))
	case start >= n:
		b.Append(append([]byte{}, data...))
	default:
		return statusBadArgument
	}
	return statusOK
}

// netStreamOp is proxy_continue_stream / proxy_close_stream on a network context, as
// Envoy's Context::continueStream / closeStream: continuing DOWNSTREAM resumes reading,
// UPSTREAM is UNIMPLEMENTED; closing either closes the connection after flushing
// (details wasm_downstream_close / wasm_upstream_close); REQUEST and RESPONSE do nothing
// (there is no HTTP stream). Both take effect once the guest call returns.
func netStreamOp(v *vm, f *filter, stream uint32, closing bool) status {
	switch stream {
	case streamRequest, streamResponse:
		return statusOK
	case streamDownstream, streamUpstream:
	default:
		return statusBadArgument
	}
	c := f.net.c
	if !closing {
		if stream == streamUpstream {
			return statusUnimplemented
		}
		v.deferred = append(v.deferred, v.onStream(f, c.ContinueReading))
		return statusOK
	}
	details := "wasm_downstream_close"
	if stream == streamUpstream {
		details = "wasm_upstream_close"
	}
	n := f.net
	v.deferred = append(v.deferred, v.onStream(f, func() {
		n.closing = true
		c.Close(true, details)
	}))
	return statusOK
}

// proxy_stream_type_t of the network streams.
const (
	streamDownstream = 2
	streamUpstream   = 3
)

// connStream is the core.Stream of a network context: what a connection has (attributes,
// logs, metrics, posting), no HTTP maps or bodies.
type connStream struct{ c core.Connection }

var _ core.Stream = connStream{}

func (connStream) RequestHeaders() core.HeaderMap      { return nil }
func (connStream) RequestTrailers() core.HeaderMap     { return nil }
func (connStream) ResponseHeaders() core.HeaderMap     { return nil }
func (connStream) ResponseTrailers() core.HeaderMap    { return nil }
func (connStream) RequestBody() core.Buffer            { return nil }
func (connStream) ResponseBody() core.Buffer           { return nil }
func (connStream) DynamicMetadata() core.Metadata      { return nil }
func (connStream) RouteMetadata() core.Metadata        { return nil }
func (connStream) FilterState() core.FilterState       { return nil }
func (s connStream) Attribute(name string) (any, bool) { return s.c.Attribute(name) }
func (connStream) SendLocalReply(core.LocalReply)      {}
func (connStream) ContinueRequest()                    {}
func (connStream) ContinueResponse()                   {}
func (connStream) ClearRouteCache()                    {}
func (connStream) HTTPCall(core.CalloutRequest, func(core.CalloutResponse)) error {
	return fmt.Errorf("HTTP calls from a network context: %w", core.ErrUnsupported)
}
func (s connStream) Post(fn func())                       { s.c.Post(fn) }
func (s connStream) Log(level core.LogLevel, msg string)  { s.c.Log(level, msg) }
func (s connStream) LogEnabled(level core.LogLevel) bool  { return s.c.LogEnabled(level) }
func (s connStream) Counter(id core.MetricID, d uint64)   { s.c.Counter(id, d) }
func (s connStream) Gauge(id core.MetricID, d int64)      { s.c.Gauge(id, d) }
func (s connStream) Histogram(id core.MetricID, v uint64) { s.c.Histogram(id, v) }
