// Command queue is a Proxy-Wasm test guest for shared queues. Plugin configuration
// "consumer:<queue>" registers the queue and, on proxy_on_queue_ready, drains it into shared
// data "queue:<queue>" (the last item and a count); "producer:<queue>" resolves the queue on
// each request, enqueues the request path and returns the consumer's record in x-queue-last.
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
	role, queue string
	count       int
}

func (p *pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	b, _ := proxywasm.GetPluginConfiguration()
	p.role, p.queue, _ = strings.Cut(string(b), ":")
	if p.role == "consumer" {
		if _, err := proxywasm.RegisterSharedQueue(p.queue); err != nil {
			proxywasm.LogErrorf("register queue: %v", err)
			return types.OnPluginStartStatusFailed
		}
	}
	return types.OnPluginStartStatusOK
}

func (p *pluginContext) OnQueueReady(id uint32) {
	for {
		v, err := proxywasm.DequeueSharedQueue(id)
		if err != nil {
			return
		}
		p.count++
		proxywasm.SetSharedData("queue:"+p.queue, []byte(string(v)+"#"+strconv.Itoa(p.count)), 0)
	}
}

func (p *pluginContext) NewHttpContext(uint32) types.HttpContext { return &httpContext{p: p} }

type httpContext struct {
	types.DefaultHttpContext
	p *pluginContext
}

func (h *httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	if h.p.role != "producer" {
		return types.ActionContinue
	}
	id, err := proxywasm.ResolveSharedQueue("", h.p.queue)
	if err != nil {
		proxywasm.AddHttpRequestHeader("x-queue-error", err.Error())
		return types.ActionContinue
	}
	path, _ := proxywasm.GetHttpRequestHeader(":path")
	if err := proxywasm.EnqueueSharedQueue(id, []byte(path)); err != nil {
		proxywasm.AddHttpRequestHeader("x-queue-error", err.Error())
	}
	return types.ActionContinue
}

func (h *httpContext) OnHttpResponseHeaders(int, bool) types.Action {
	if h.p.role == "producer" {
		if v, _, err := proxywasm.GetSharedData("queue:" + h.p.queue); err == nil {
			proxywasm.ReplaceHttpResponseHeader("x-queue-last", string(v))
		}
	}
	return types.ActionContinue
}
