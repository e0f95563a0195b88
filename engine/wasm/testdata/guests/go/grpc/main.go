// Command grpc is a Proxy-Wasm test guest for gRPC callouts and root-context HTTP calls. The
// Go SDK has no gRPC API, so the guest imports proxy_grpc_* and exports the
// proxy_on_grpc_* callbacks itself.
//
// Plugin configuration "http=<cluster>;grpc=<cluster>;tag=<tag>;tick=<ms>":
//   - On its first tick the root context sends GET /startup/<tag> to the http cluster and a
//     unary t.S/Echo call with "tick-<tag>" to the grpc cluster; the answers are kept in shared
//     data (startup-<tag>, grpc-tick-<tag>).
//   - /unary: the request pauses, calls t.S/Echo with its x-msg header as the message and
//     initial metadata x-md: from-guest, and resumes with x-grpc-reply: <answer>; a failed call
//     is answered 503 with x-grpc-status: "<code> <message>".
//   - /fail: the same with t.S/Fail (NOT_FOUND).
//   - /slow: the same with t.S/Slow and a 300 ms timeout.
//   - /stream: opens a t.S/Stream stream, sends "go" and half-closes; when it closes the request
//     resumes with x-stream-initial, x-stream-msgs, x-stream-trailing and x-stream-status.
//   - /cancel: opens a t.S/Slow stream, cancels it and resumes with x-cancel: <status of
//     cancel>,<status of a second cancel>,<status of send after cancel>.
//   - /tick-result: resumes with x-startup and x-grpc-tick from shared data.
//   - anything else passes.
package main

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"unsafe"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() { proxywasm.SetVMContext(&vmContext{}) }

//go:wasmimport env proxy_grpc_call
func proxyGrpcCall(svc *byte, svcSize int32, service *byte, serviceSize int32, method *byte, methodSize int32,
	md *byte, mdSize int32, msg *byte, msgSize int32, timeout uint32, token *uint32) uint32

//go:wasmimport env proxy_grpc_stream
func proxyGrpcStream(svc *byte, svcSize int32, service *byte, serviceSize int32, method *byte, methodSize int32,
	md *byte, mdSize int32, token *uint32) uint32

//go:wasmimport env proxy_grpc_send
func proxyGrpcSend(token uint32, msg *byte, msgSize int32, end uint32) uint32

//go:wasmimport env proxy_grpc_cancel
func proxyGrpcCancel(token uint32) uint32

//go:wasmimport env proxy_grpc_close
func proxyGrpcClose(token uint32) uint32

//go:wasmimport env proxy_get_buffer_bytes
func proxyGetBufferBytes(t uint32, start, max int32, data unsafe.Pointer, size *int32) uint32

//go:wasmimport env proxy_get_header_map_pairs
func proxyGetHeaderMapPairs(t uint32, data unsafe.Pointer, size *int32) uint32

//go:wasmimport env proxy_get_status
func proxyGetStatus(code *uint32, data unsafe.Pointer, size *int32) uint32

func ptr(b []byte) *byte {
	if len(b) == 0 {
		return nil
	}
	return &b[0]
}

func bytesAt(p *byte, n int32) []byte {
	if p == nil || n == 0 {
		return nil
	}
	return unsafe.Slice(p, n)
}

// grpcService serializes envoy.config.core.v3.GrpcService{envoy_grpc{cluster_name}}.
func grpcService(cluster string) []byte {
	inner := append([]byte{0x0a, byte(len(cluster))}, cluster...)
	return append([]byte{0x0a, byte(len(inner))}, inner...)
}

func pairs(kv ...string) []byte {
	n := len(kv) / 2
	b := binary.LittleEndian.AppendUint32(nil, uint32(n))
	for i := 0; i < n; i++ {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(kv[2*i])))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(kv[2*i+1])))
	}
	for _, s := range kv {
		b = append(append(b, s...), 0)
	}
	return b
}

func decodePairs(b []byte) map[string]string {
	out := map[string]string{}
	if len(b) < 4 {
		return out
	}
	n := int(binary.LittleEndian.Uint32(b))
	data := 4 + 8*n
	for i := 0; i < n; i++ {
		kl := int(binary.LittleEndian.Uint32(b[4+8*i:]))
		vl := int(binary.LittleEndian.Uint32(b[8+8*i:]))
		k := string(b[data : data+kl])
		data += kl + 1
		out[k] = string(b[data : data+vl])
		data += vl + 1
	}
	return out
}

func metadata(t uint32) map[string]string {
	var p *byte
	var n int32
	if proxyGetHeaderMapPairs(t, unsafe.Pointer(&p), &n) != 0 {
		return map[string]string{}
	}
	return decodePairs(bytesAt(p, n))
}

func message(size uint32) string {
	var p *byte
	var n int32
	if size == 0 || proxyGetBufferBytes(5, 0, int32(size), unsafe.Pointer(&p), &n) != 0 {
		return ""
	}
	return string(bytesAt(p, n))
}

func grpcStatus() (uint32, string) {
	var code uint32
	var p *byte
	var n int32
	proxyGetStatus(&code, unsafe.Pointer(&p), &n)
	return code, string(bytesAt(p, n))
}

func call(cluster, method, msg string, md []byte) (uint32, uint32) {
	return callWithin(cluster, method, msg, md, 5000)
}

func callWithin(cluster, method, msg string, md []byte, timeoutMs uint32) (uint32, uint32) {
	svc, service, m := grpcService(cluster), []byte("t.S"), []byte(method)
	body := []byte(msg)
	var token uint32
	st := proxyGrpcCall(ptr(svc), int32(len(svc)), ptr(service), int32(len(service)), ptr(m), int32(len(m)),
		ptr(md), int32(len(md)), ptr(body), int32(len(body)), timeoutMs, &token)
	return token, st
}

func stream(cluster, method string) (uint32, uint32) {
	svc, service, m := grpcService(cluster), []byte("t.S"), []byte(method)
	var token uint32
	st := proxyGrpcStream(ptr(svc), int32(len(svc)), ptr(service), int32(len(service)), ptr(m), int32(len(m)), nil, 0, &token)
	return token, st
}

type vmContext struct{ types.DefaultVMContext }

var plugin *pluginContext

func (*vmContext) NewPluginContext(uint32) types.PluginContext {
	plugin = &pluginContext{waiting: map[uint32]*httpContext{}}
	return plugin
}

type pluginContext struct {
	types.DefaultPluginContext
	httpCluster, grpcCluster, tag string
	ticked                        bool
	tickToken                     uint32
	// waiting maps a gRPC token to the stream that waits for it.
	waiting map[uint32]*httpContext
}

func (p *pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	b, _ := proxywasm.GetPluginConfiguration()
	for _, kv := range strings.Split(string(b), ";") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "http":
			p.httpCluster = v
		case "grpc":
			p.grpcCluster = v
		case "tag":
			p.tag = v
		case "tick":
			ms, _ := strconv.Atoi(v)
			proxywasm.SetTickPeriodMilliSeconds(uint32(ms))
		}
	}
	return types.OnPluginStartStatusOK
}

func (p *pluginContext) OnTick() {
	if p.ticked {
		return
	}
	p.ticked = true
	proxywasm.SetTickPeriodMilliSeconds(0)
	if p.httpCluster != "" {
		hs := [][2]string{{":method", "GET"}, {":path", "/startup/" + p.tag}, {":authority", "startup.test"}}
		if _, err := proxywasm.DispatchHttpCall(p.httpCluster, hs, nil, nil, 5000, func(n, size, _ int) {
			st := "failed"
			if n > 0 {
				hs, _ := proxywasm.GetHttpCallResponseHeaders()
				body, _ := proxywasm.GetHttpCallResponseBody(0, size)
				for _, h := range hs {
					if h[0] == ":status" {
						st = h[1] + " " + strings.TrimSpace(string(body))
					}
				}
			}
			proxywasm.SetSharedData("startup-"+p.tag, []byte(st), 0)
		}); err != nil {
			proxywasm.SetSharedData("startup-"+p.tag, []byte("dispatch: "+err.Error()), 0)
		}
	}
	if p.grpcCluster != "" {
		tok, st := call(p.grpcCluster, "Echo", "tick-"+p.tag, nil)
		if st != 0 {
			proxywasm.SetSharedData("grpc-tick-"+p.tag, []byte(fmt.Sprint("call status ", st)), 0)
			return
		}
		p.tickToken = tok
	}
}

func (p *pluginContext) NewHttpContext(id uint32) types.HttpContext {
	return &httpContext{p: p, id: id}
}

type httpContext struct {
	types.DefaultHttpContext
	p                 *pluginContext
	id                uint32
	initial, trailing string
	msgs              []string
	kind              string
}

func (h *httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	path, _ := proxywasm.GetHttpRequestHeader(":path")
	switch path {
	case "/unary", "/fail", "/slow":
		msg, _ := proxywasm.GetHttpRequestHeader("x-msg")
		method, timeout := "Echo", uint32(5000)
		switch path {
		case "/fail":
			method = "Fail"
		case "/slow":
			method, timeout = "Slow", 300
		}
		tok, st := callWithin(h.p.grpcCluster, method, msg, pairs("x-md", "from-guest"), timeout)
		if st != 0 {
			proxywasm.SendHttpResponse(500, [][2]string{{"x-grpc-call", fmt.Sprint(st)}}, nil, -1)
			return types.ActionPause
		}
		h.kind = "unary"
		h.p.waiting[tok] = h
		return types.ActionPause
	case "/stream":
		tok, st := stream(h.p.grpcCluster, "Stream")
		if st != 0 {
			proxywasm.SendHttpResponse(500, [][2]string{{"x-grpc-stream", fmt.Sprint(st)}}, nil, -1)
			return types.ActionPause
		}
		h.kind = "stream"
		h.p.waiting[tok] = h
		m := []byte("go")
		proxyGrpcSend(tok, ptr(m), int32(len(m)), 1)
		return types.ActionPause
	case "/cancel":
		tok, st := stream(h.p.grpcCluster, "Slow")
		if st != 0 {
			proxywasm.SendHttpResponse(500, [][2]string{{"x-grpc-stream", fmt.Sprint(st)}}, nil, -1)
			return types.ActionPause
		}
		m := []byte("x")
		first := proxyGrpcCancel(tok)
		second := proxyGrpcCancel(tok)
		send := proxyGrpcSend(tok, ptr(m), int32(len(m)), 0)
		closeSt := proxyGrpcClose(tok)
		bad := proxyGrpcClose(tok &^ 3)
		proxywasm.AddHttpRequestHeader("x-cancel", fmt.Sprintf("%d,%d,%d,%d,%d", first, second, send, closeSt, bad))
		return types.ActionContinue
	case "/tick-result":
		a, _, _ := proxywasm.GetSharedData("startup-" + h.p.tag)
		b, _, _ := proxywasm.GetSharedData("grpc-tick-" + h.p.tag)
		proxywasm.AddHttpRequestHeader("x-startup", string(a))
		proxywasm.AddHttpRequestHeader("x-grpc-tick", string(b))
	}
	return types.ActionContinue
}

// waiter returns the stream waiting for token and makes it the effective context.
func waiter(token uint32) *httpContext {
	h := plugin.waiting[token]
	if h != nil {
		proxywasm.SetEffectiveContext(h.id)
	}
	return h
}

//go:wasmexport proxy_on_grpc_receive_initial_metadata
func onGrpcInitial(_, token, _ uint32) {
	if h := plugin.waiting[token]; h != nil {
		h.initial = metadata(4)["x-initial"]
	}
}

//go:wasmexport proxy_on_grpc_receive_trailing_metadata
func onGrpcTrailing(_, token, _ uint32) {
	if h := plugin.waiting[token]; h != nil {
		h.trailing = metadata(5)["x-trailing"]
	}
}

//go:wasmexport proxy_on_grpc_receive
func onGrpcReceive(_, token, size uint32) {
	msg := message(size)
	if token == plugin.tickToken {
		proxywasm.SetSharedData("grpc-tick-"+plugin.tag, []byte("reply "+msg), 0)
		return
	}
	h := waiter(token)
	if h == nil {
		return
	}
	if h.kind == "stream" {
		h.msgs = append(h.msgs, msg)
		return
	}
	delete(plugin.waiting, token)
	proxywasm.AddHttpRequestHeader("x-grpc-reply", msg)
	proxywasm.ResumeHttpRequest()
}

//go:wasmexport proxy_on_grpc_close
func onGrpcClose(_, token, code uint32) {
	c, msg := grpcStatus()
	if token == plugin.tickToken {
		proxywasm.SetSharedData("grpc-tick-"+plugin.tag, []byte(fmt.Sprintf("closed %d %d %s", code, c, msg)), 0)
		return
	}
	h := waiter(token)
	if h == nil {
		return
	}
	delete(plugin.waiting, token)
	if h.kind == "stream" {
		proxyGrpcClose(token)
		proxywasm.AddHttpRequestHeader("x-stream-initial", h.initial)
		proxywasm.AddHttpRequestHeader("x-stream-msgs", strings.Join(h.msgs, ","))
		proxywasm.AddHttpRequestHeader("x-stream-trailing", h.trailing)
		proxywasm.AddHttpRequestHeader("x-stream-status", fmt.Sprintf("%d %d %s", code, c, msg))
		proxywasm.ResumeHttpRequest()
		return
	}
	proxywasm.SendHttpResponse(503, [][2]string{{"x-grpc-status", fmt.Sprintf("%d %d %s", code, c, msg)}}, []byte("grpc failed\n"), -1)
}
