// Command dispatch is a Proxy-Wasm test guest for proxy_http_call. The plugin configuration
// is "cluster=<name>;calls=<n>;tick=<ms>". Each request dispatches n calls to the cluster
// (path /dispatch/<i>) and pauses; when every call answered 200 the request resumes with
// x-dispatch-status and x-dispatch-body headers, otherwise it is answered 403 (503 when a
// call failed). With tick > 0 the root context dispatches /tick on every tick and keeps the
// last answer in shared data, echoed in the x-tick-last response header.
package main

import (
	"strconv"
	"strings"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() { proxywasm.SetVMContext(&vmContext{}) }

type vmContext struct{ types.DefaultVMContext }

func (*vmContext) NewPluginContext(uint32) types.PluginContext { return &pluginContext{} }

type pluginContext struct {
	types.DefaultPluginContext
	cluster string
	calls   int
	tick    int
}

func (p *pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	b, _ := proxywasm.GetPluginConfiguration()
	p.calls = 1
	for _, kv := range strings.Split(string(b), ";") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "cluster":
			p.cluster = v
		case "calls":
			p.calls, _ = strconv.Atoi(v)
		case "tick":
			p.tick, _ = strconv.Atoi(v)
		}
	}
	if p.tick > 0 {
		proxywasm.SetTickPeriodMilliSeconds(uint32(p.tick))
	}
	return types.OnPluginStartStatusOK
}

func (p *pluginContext) OnTick() {
	_, err := proxywasm.DispatchHttpCall(p.cluster, [][2]string{{":method", "GET"}, {":path", "/tick"}, {":authority", "dispatch.test"}}, nil, nil, 5000,
		func(numHeaders, bodySize, _ int) {
			if numHeaders == 0 {
				proxywasm.SetSharedData("tick-last", []byte("failed"), 0)
				return
			}
			st := status()
			proxywasm.SetSharedData("tick-last", []byte("status="+st), 0)
		})
	if err != nil {
		proxywasm.LogDebugf("tick dispatch: %v", err)
	}
}

func (p *pluginContext) NewHttpContext(uint32) types.HttpContext { return &httpContext{p: p} }

type httpContext struct {
	types.DefaultHttpContext
	p        *pluginContext
	pending  int
	statuses []string
	bodies   []string
	failed   bool
}

func (h *httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	if path, _ := proxywasm.GetHttpRequestHeader(":path"); strings.HasPrefix(path, "/nodispatch") {
		return types.ActionContinue
	}
	for i := 0; i < h.p.calls; i++ {
		hs := [][2]string{{":method", "GET"}, {":path", "/dispatch/" + strconv.Itoa(i)}, {":authority", "dispatch.test"}}
		if _, err := proxywasm.DispatchHttpCall(h.p.cluster, hs, nil, nil, 5000, h.done); err != nil {
			proxywasm.SendHttpResponse(500, [][2]string{{"x-dispatch-error", err.Error()}}, nil, -1)
			return types.ActionPause
		}
		h.pending++
	}
	return types.ActionPause
}

func (h *httpContext) done(numHeaders, bodySize, _ int) {
	h.pending--
	if numHeaders == 0 {
		h.failed = true
	} else {
		st := status()
		b, _ := proxywasm.GetHttpCallResponseBody(0, bodySize)
		h.statuses = append(h.statuses, st)
		h.bodies = append(h.bodies, strings.TrimSpace(string(b)))
	}
	if h.pending > 0 {
		return
	}
	if h.failed {
		proxywasm.SendHttpResponse(503, [][2]string{{"x-dispatch", "failed"}}, []byte("dispatch failed\n"), -1)
		return
	}
	for _, s := range h.statuses {
		if s != "200" {
			proxywasm.SendHttpResponse(403, [][2]string{{"x-dispatch-status", strings.Join(h.statuses, ",")}}, []byte("denied by dispatch\n"), -1)
			return
		}
	}
	proxywasm.AddHttpRequestHeader("x-dispatch-status", strings.Join(h.statuses, ","))
	proxywasm.AddHttpRequestHeader("x-dispatch-count", strconv.Itoa(len(h.statuses)))
	proxywasm.ResumeHttpRequest()
}

func (h *httpContext) OnHttpResponseHeaders(int, bool) types.Action {
	if h.p.tick > 0 {
		v, _, err := proxywasm.GetSharedData("tick-last")
		if err == nil {
			proxywasm.AddHttpResponseHeader("x-tick-last", string(v))
		}
	}
	return types.ActionContinue
}

// status is the :status of the HTTP call response being delivered.
func status() string {
	hs, _ := proxywasm.GetHttpCallResponseHeaders()
	for _, h := range hs {
		if h[0] == ":status" {
			return h[1]
		}
	}
	return ""
}
