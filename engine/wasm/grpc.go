package wasm

import (
	"context"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/trafficext/trafficext/core"
	gateway "github.com/trafficext/trafficext/engine/callout"
	"github.com/trafficext/trafficext/engine/wasm/internal/abicodec"
)

// gRPC calls and streams, and HTTP calls from a root context, go through the proxy's callout
// gateway (engine/callout), following Envoy's context.cc; token and callback rules:
// RATIONALE.md, "gRPC and root-context calls".

// Callout kinds, the low two bits of a token.
const (
	kindHTTP       = 0
	kindGRPCCall   = 1
	kindGRPCStream = 2
	tokenStep      = 4
)

// maxCallouts bounds the gateway calls and streams in flight per VM.
const maxCallouts = 1024

// callouts is a VM's table of gateway calls in flight; guarded by vm.mu.
type callouts struct {
	next  [3]uint32
	live  map[uint32]*gatewayCall
	count int
}

// gatewayCall is one HTTP call, gRPC call or gRPC stream through the gateway.
type gatewayCall struct {
	kind   int
	cancel func()
	stream grpcSender
	// response is the last message of a unary call.
	response                  []byte
	localClosed, remoteClosed bool
}

// grpcEvent is the gRPC callback being delivered: its metadata, message or status.
type grpcEvent struct {
	metadata []core.Header
	message  []byte
	closing  bool
	code     uint32
	msg      string
}

func (c *callouts) add(kind int, g *gatewayCall) (uint32, bool) {
	if c.count >= maxCallouts {
		return 0, false
	}
	if c.live == nil {
		c.live = map[uint32]*gatewayCall{}
		c.next = [3]uint32{kindHTTP, kindGRPCCall, kindGRPCStream}
	}
	c.next[kind] += tokenStep
	id := c.next[kind]
	g.kind = kind
	c.live[id] = g
	c.count++
	return id, true
}

func (c *callouts) remove(id uint32) {
	if _, ok := c.live[id]; ok {
		delete(c.live, id)
		c.count--
	}
}

// cancelAll resets every call in flight (the VM is closing). The caller holds vm.mu.
func (c *callouts) cancelAll() {
	for id, g := range c.live {
		g.cancel()
		delete(c.live, id)
	}
	c.count = 0
}

// nextHTTPCallID numbers an HTTP call made on a stream (the ABI callout), in the same token
// space as the gateway calls.
func (c *callouts) nextHTTPCallID() uint32 {
	if c.live == nil {
		c.live = map[uint32]*gatewayCall{}
		c.next = [3]uint32{kindHTTP, kindGRPCCall, kindGRPCStream}
	}
	c.next[kindHTTP] += tokenStep
	return c.next[kindHTTP]
}

// gateway returns the plugin's callout gateway client (nil: none configured).
func (v *vm) gateway() *gateway.Client { return v.cur.root.p.gateway }

// gatewayHTTPCall sends a root context's proxy_http_call through the gateway.
func (v *vm) gatewayHTTPCall(gw *gateway.Client, req core.CalloutRequest) (uint32, status) {
	ctx, cancel := context.WithCancel(context.Background())
	root := v.cur.root
	id, ok := v.gw.add(kindHTTP, &gatewayCall{cancel: cancel})
	if !ok {
		cancel()
		return 0, statusInternalFailure
	}
	go func() {
		defer cancel()
		res, err := gw.Do(ctx, req)
		r := core.CalloutResponse{Headers: res.Headers, Body: res.Body, Err: err}
		root.rootCall(func() (uint64, error) {
			if _, ok := v.gw.live[id]; !ok {
				return 0, nil // cancelled
			}
			v.gw.remove(id)
			nh := len(r.Headers)
			if r.Err != nil {
				nh = 0
			}
			v.cur.httpResp = &r
			v.cur.httpTrailers = res.Trailers
			return v.call(v.fns.onHTTPCallResponse, uint64(root.id), uint64(id), uint64(nh), uint64(len(r.Body)), uint64(len(res.Trailers)))
		})
	}()
	return id, statusOK
}

// proxy_grpc_call(service, service_size, service_name, service_name_size, method,
// method_size, initial_metadata, initial_metadata_size, message, message_size, timeout_ms,
// return_call_id).
func hostGRPCCall(_ context.Context, v *vm, m api.Module, a []uint32) status {
	svc, service, method, md, st := readGRPCTarget(m, a[:8])
	if st != statusOK {
		return st
	}
	msg, ok := read(m, a[8], a[9])
	if !ok {
		return statusInvalidMemory
	}
	target, st := grpcTarget(svc, md, time.Duration(a[10])*time.Millisecond)
	if st != statusOK {
		return st
	}
	g, id, ok := v.addGRPC(kindGRPCCall, target, service, method, func(id uint32) gateway.GRPCHandler { return &unaryHandler{v: v, r: v.cur.root, id: id} })
	if !ok {
		return statusInternalFailure
	}
	g.stream.Send(msg, true)
	return putU32(m, a[11], id)
}

// proxy_grpc_stream(service, service_size, service_name, service_name_size, method,
// method_size, initial_metadata, initial_metadata_size, return_stream_id).
func hostGRPCStream(_ context.Context, v *vm, m api.Module, a []uint32) status {
	svc, service, method, md, st := readGRPCTarget(m, a[:8])
	if st != statusOK {
		return st
	}
	target, st := grpcTarget(svc, md, 0)
	if st != statusOK {
		return st
	}
	if _, id, ok := v.addGRPC(kindGRPCStream, target, service, method, func(id uint32) gateway.GRPCHandler { return &streamHandler{v: v, r: v.cur.root, id: id} }); ok {
		return putU32(m, a[8], id)
	}
	return statusInternalFailure
}

func readGRPCTarget(m api.Module, a []uint32) (svc []byte, service, method string, md []core.Header, st status) {
	svc, ok1 := read(m, a[0], a[1])
	service, ok2 := readString(m, a[2], a[3])
	method, ok3 := readString(m, a[4], a[5])
	mdb, ok4 := read(m, a[6], a[7])
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return nil, "", "", nil, statusInvalidMemory
	}
	md, err := abicodec.DecodePairs(mdb)
	if err != nil {
		return nil, "", "", nil, statusSerialization
	}
	return svc, service, method, md, statusOK
}

// grpcTarget resolves the service argument: a GrpcService with envoy_grpc (or a bare cluster
// name); google_grpc and a service naming no cluster are BAD_ARGUMENT, as Envoy's
// getOrCreateRawAsyncClient refuses them here.
func grpcTarget(svc []byte, md []core.Header, timeout time.Duration) (gateway.GRPCTarget, status) {
	s := parseGrpcService(svc)
	if s.google || s.cluster == "" {
		return gateway.GRPCTarget{}, statusBadArgument
	}
	return gateway.GRPCTarget{Cluster: s.cluster, Authority: s.authority, Metadata: append(s.metadata, md...), Timeout: timeout}, statusOK
}

// grpcSender is the sending side of a gRPC stream.
type grpcSender interface {
	Send(msg []byte, end bool)
	CloseSend()
	Cancel()
}

// noSender stands for a stream that never opened.
type noSender struct{}

func (noSender) Send([]byte, bool) {}
func (noSender) CloseSend()        {}
func (noSender) Cancel()           {}

// startGRPC opens the stream through the gateway; without a gateway the call closes
// UNAVAILABLE asynchronously, as Envoy's client does for a cluster it does not know.
// addGRPC registers a gateway call of kind under a new token and starts it with the handler
// made for that token; ok is false when no token is free.
func (v *vm) addGRPC(kind int, target gateway.GRPCTarget, service, method string, handler func(id uint32) gateway.GRPCHandler) (*gatewayCall, uint32, bool) {
	g := &gatewayCall{}
	id, ok := v.gw.add(kind, g)
	if !ok {
		return nil, 0, false
	}
	v.startGRPC(g, target, service, method, handler(id))
	return g, id, true
}

func (v *vm) startGRPC(g *gatewayCall, target gateway.GRPCTarget, service, method string, h gateway.GRPCHandler) {
	gw := v.gateway()
	if gw != nil {
		s, err := gw.StartGRPC(target, service, method, h)
		if err == nil {
			g.stream, g.cancel = s, s.Cancel
			return
		}
	}
	g.stream, g.cancel = noSender{}, func() {}
	go func() {
		h.InitialMetadata(nil)
		h.TrailingMetadata(nil)
		h.Close(gateway.CodeUnavailable, "Cluster not available")
	}()
}

// proxy_grpc_send(token, message, message_size, end_of_stream).
func hostGRPCSend(_ context.Context, v *vm, m api.Module, a []uint32) status {
	if a[0]&3 != kindGRPCStream {
		return statusBadArgument
	}
	g, ok := v.gw.live[a[0]]
	if !ok {
		return statusNotFound
	}
	msg, ok := read(m, a[1], a[2])
	if !ok {
		return statusInvalidMemory
	}
	if !g.remoteClosed {
		g.stream.Send(append([]byte{}, msg...), a[3] != 0)
	}
	return statusOK
}

// proxy_grpc_cancel(token).
func hostGRPCCancel(_ context.Context, v *vm, _ api.Module, a []uint32) status {
	id := a[0]
	if k := id & 3; k != kindGRPCCall && k != kindGRPCStream {
		return statusBadArgument
	}
	g, ok := v.gw.live[id]
	if !ok {
		return statusNotFound
	}
	g.cancel()
	v.gw.remove(id)
	return statusOK
}

// proxy_grpc_close(token).
func hostGRPCClose(ctx context.Context, v *vm, m api.Module, a []uint32) status {
	id := a[0]
	switch id & 3 {
	case kindGRPCCall:
		return hostGRPCCancel(ctx, v, m, a)
	case kindGRPCStream:
		g, ok := v.gw.live[id]
		if !ok {
			return statusNotFound
		}
		g.stream.CloseSend()
		if g.remoteClosed {
			v.gw.remove(id)
		} else {
			g.localClosed = true
		}
		return statusOK
	}
	return statusBadArgument
}

// deliverGRPC runs a gRPC callback on the root context if the token is still live. decide
// runs under the VM lock and names the export to call and its last argument ("": drop it).
func (v *vm) deliverGRPC(root *rootCtx, id uint32, ev *grpcEvent, decide func(g *gatewayCall) (string, uint64)) {
	root.rootCall(func() (uint64, error) {
		g, ok := v.gw.live[id]
		if !ok {
			return 0, nil // cancelled or closed
		}
		export, n := decide(g)
		if export == "" || v.mod == nil {
			return 0, nil
		}
		v.cur.grpc = ev
		return v.call(v.mod.ExportedFunction(export), uint64(root.id), uint64(id), n)
	})
}

// unaryHandler turns a gateway stream into Envoy's unary call callbacks.
type unaryHandler struct {
	v  *vm
	r  *rootCtx // the root context that made the call
	id uint32
}

func (h *unaryHandler) InitialMetadata([]core.Header)  {}
func (h *unaryHandler) TrailingMetadata([]core.Header) {}

func (h *unaryHandler) Message(msg []byte) {
	h.v.mu.Lock()
	if g, ok := h.v.gw.live[h.id]; ok {
		g.response = msg
	}
	h.v.mu.Unlock()
}

func (h *unaryHandler) Close(code uint32, msg string) {
	ev := &grpcEvent{}
	h.v.deliverGRPC(h.r, h.id, ev, func(g *gatewayCall) (string, uint64) {
		h.v.gw.remove(h.id)
		if code == gateway.CodeOK && g.response == nil {
			code, msg = gateway.CodeInternal, ""
		}
		if code != gateway.CodeOK {
			ev.closing, ev.code, ev.msg = true, code, msg
			return "proxy_on_grpc_close", uint64(code)
		}
		ev.message = g.response
		return "proxy_on_grpc_receive", uint64(len(g.response))
	})
}

// streamHandler delivers a gateway stream's events.
type streamHandler struct {
	v  *vm
	r  *rootCtx // the root context that opened the stream
	id uint32
}

func (h *streamHandler) InitialMetadata(md []core.Header) {
	h.v.deliverGRPC(h.r, h.id, &grpcEvent{metadata: md}, func(*gatewayCall) (string, uint64) {
		return "proxy_on_grpc_receive_initial_metadata", uint64(len(md))
	})
}

func (h *streamHandler) Message(msg []byte) {
	h.v.deliverGRPC(h.r, h.id, &grpcEvent{message: msg}, func(*gatewayCall) (string, uint64) {
		return "proxy_on_grpc_receive", uint64(len(msg))
	})
}

func (h *streamHandler) TrailingMetadata(md []core.Header) {
	h.v.deliverGRPC(h.r, h.id, &grpcEvent{metadata: md}, func(*gatewayCall) (string, uint64) {
		return "proxy_on_grpc_receive_trailing_metadata", uint64(len(md))
	})
}

func (h *streamHandler) Close(code uint32, msg string) {
	h.v.deliverGRPC(h.r, h.id, &grpcEvent{closing: true, code: code, msg: msg}, func(g *gatewayCall) (string, uint64) {
		g.remoteClosed = true
		if g.localClosed {
			h.v.gw.remove(h.id)
		}
		return "proxy_on_grpc_close", uint64(code)
	})
}

// grpcMetadata is the metadata map of the gRPC callback being delivered (read-only).
func (v *vm) grpcMetadata() ([]core.Header, status) {
	if v.cur.grpc == nil {
		return nil, statusNotFound
	}
	return v.cur.grpc.metadata, statusOK
}

// grpcMessage is the message of proxy_on_grpc_receive.
func (v *vm) grpcMessage() ([]byte, status) {
	if v.cur.grpc == nil {
		return nil, statusNotFound
	}
	return v.cur.grpc.message, statusOK
}

// grpcStatus is proxy_get_status inside a gRPC callback.
func (v *vm) grpcStatus() (uint32, string, bool) {
	ev := v.cur.grpc
	if ev == nil {
		return 0, "", false
	}
	return ev.code, ev.msg, true
}

// newGateway returns the client of the extension's callout gateway, nil when none is set.
func newGateway(addr string) *gateway.Client {
	if strings.TrimSpace(addr) == "" {
		return nil
	}
	return gateway.New(addr)
}
