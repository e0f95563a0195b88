package wasm

import (
	"context"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/trafficext/trafficext/core"
	"github.com/trafficext/trafficext/engine/wasm/internal/abicodec"
)

// proxy_http_call: from a stream through that stream's cluster callout, from a root context
// through the callout gateway (RATIONALE.md, "HTTP calls"); call ids are Envoy's: 4, 8, 12…
func hostHTTPCall(_ context.Context, v *vm, m api.Module, a []uint32) status {
	cluster, ok1 := readString(m, a[0], a[1])
	hb, ok2 := read(m, a[2], a[3])
	body, ok3 := read(m, a[4], a[5])
	if !ok1 || !ok2 || !ok3 {
		return statusInvalidMemory
	}
	hs, err := abicodec.DecodePairs(hb)
	if err != nil {
		return statusSerialization
	}
	have := map[string]bool{}
	for _, h := range hs {
		have[h.Key] = true
	}
	if cluster == "" || !have[":method"] || !have[":path"] || !have[":authority"] && !have["host"] {
		return statusBadArgument
	}
	req := core.CalloutRequest{Cluster: cluster, Headers: hs, Body: append([]byte{}, body...), Timeout: time.Duration(a[8]) * time.Millisecond}
	f := v.currentFilter()
	if f == nil || f.net != nil {
		// A network context has no HTTP stream to call from: its calls go through the
		// callout gateway as the root context's (the response reaches the root context, as in
		// Envoy, and the guest switches to its connection's context from there).
		if gw := v.gateway(); gw != nil {
			id, st := v.gatewayHTTPCall(gw, req)
			if st == statusOK && !writeU32(m, a[9], id) {
				return statusInvalidMemory
			}
			return st
		}
	}
	if f != nil && f.net != nil {
		return statusInternalFailure // no callout gateway
	}
	id := v.gw.nextHTTPCallID()
	if f != nil && v.cur.offWorker {
		// A root call on an engine goroutine switched to this stream: Envoy's callout must
		// start on the stream's worker. A refusal there (e.g. an unknown cluster) arrives as a
		// failed response instead of this call's BAD_ARGUMENT.
		v.calls[id] = callOwner{f: f, r: f.r}
		f.s.Post(func() {
			err := f.s.HTTPCall(req, func(r core.CalloutResponse) { v.deliverCall(f, id, r) })
			if err != nil {
				v.deliverCall(f, id, core.CalloutResponse{Err: err})
			}
		})
	} else if f != nil {
		v.calls[id] = callOwner{f: f, r: f.r}
		f.dispatching = true
		err := f.s.HTTPCall(req, func(r core.CalloutResponse) {
			if f.dispatching { // completed inline: deliver after the current call
				v.deferred = append(v.deferred, func() { v.deliverCall(f, id, r) })
				return
			}
			v.deliverCall(f, id, r)
		})
		f.dispatching = false
		if err != nil {
			delete(v.calls, id)
			return statusBadArgument
		}
	} else {
		anchor := v.anchor()
		if anchor == nil {
			return statusInternalFailure
		}
		root := v.cur.root
		v.calls[id] = callOwner{r: root}
		anchor.s.Post(func() {
			err := anchor.s.HTTPCall(req, func(r core.CalloutResponse) { v.deliverCallTo(root, nil, id, r) })
			if err != nil {
				v.deliverCallTo(root, nil, id, core.CalloutResponse{Err: err})
			}
		})
	}
	return putU32(m, a[9], id)
}

// onStream returns fn, a stream operation deferred until the current guest call returns, so
// that it runs on the stream's worker: as is for a call on a worker; posted to the stream for a
// root-context call on an engine goroutine (tick, queue ready, gateway and gRPC callbacks),
// since Envoy's stream callbacks must not be called from other threads.
func (v *vm) onStream(f *filter, fn func()) func() {
	if !v.cur.offWorker {
		return fn
	}
	return func() { f.s.Post(fn) }
}

// anchor is the most recent live HTTP stream of the VM (a network context has no callouts).
func (v *vm) anchor() *filter {
	var best *filter
	for id, f := range v.filters {
		if f.net == nil && !f.failed && (best == nil || id > best.id) {
			best = f
		}
	}
	return best
}

// callOwner is who dispatched an HTTP call: a stream context (f) of root context r, or r.
type callOwner struct {
	f *filter
	r *rootCtx
}

// deliverCall is deliverCallTo for a call dispatched by stream f.
func (v *vm) deliverCall(f *filter, id uint32, r core.CalloutResponse) {
	v.deliverCallTo(f.r, f, id, r)
}

// deliverCallTo runs proxy_on_http_call_response on root context root. f is the stream that
// dispatched the call (nil for a root-context call); its resumes and replies are applied.
func (v *vm) deliverCallTo(root *rootCtx, f *filter, id uint32, r core.CalloutResponse) {
	if f != nil && f.v != v {
		return // the stream is gone
	}
	nh := len(r.Headers)
	if r.Err != nil {
		nh = 0
	}
	_, touched, err := v.run(root, nil, func() (uint64, error) {
		if _, ok := v.calls[id]; !ok {
			return 0, nil
		}
		delete(v.calls, id)
		v.cur.httpResp = &r
		return v.call(v.fns.onHTTPCallResponse, uint64(root.id), uint64(id), uint64(nh), uint64(len(r.Body)), 0)
	})
	if err != nil {
		if f != nil {
			f.failAsync(err)
		}
		return
	}
	for _, t := range touched {
		t.afterAsync()
	}
}
