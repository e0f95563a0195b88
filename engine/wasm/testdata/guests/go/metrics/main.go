// Command metrics is a Proxy-Wasm test guest: a counter, a gauge and a histogram defined at
// plugin start and changed on every request; the counter's value is returned in x-counter.
package main

import (
	"strconv"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() { proxywasm.SetVMContext(&vmContext{}) }

type vmContext struct{ types.DefaultVMContext }

func (*vmContext) NewPluginContext(uint32) types.PluginContext { return &pluginContext{} }

type pluginContext struct {
	types.DefaultPluginContext
	requests proxywasm.MetricCounter
	inflight proxywasm.MetricGauge
	sizes    proxywasm.MetricHistogram
}

func (p *pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	p.requests = proxywasm.DefineCounterMetric("wasmtest_requests_total")
	p.inflight = proxywasm.DefineGaugeMetric("wasmtest_inflight")
	p.sizes = proxywasm.DefineHistogramMetric("wasmtest_header_count")
	return types.OnPluginStartStatusOK
}

func (p *pluginContext) NewHttpContext(uint32) types.HttpContext { return &httpContext{p: p} }

type httpContext struct {
	types.DefaultHttpContext
	p *pluginContext
}

func (h *httpContext) OnHttpRequestHeaders(n int, _ bool) types.Action {
	h.p.requests.Increment(1)
	h.p.inflight.Add(1)
	h.p.sizes.Record(uint64(n))
	return types.ActionContinue
}

func (h *httpContext) OnHttpResponseHeaders(int, bool) types.Action {
	h.p.inflight.Add(-1)
	proxywasm.ReplaceHttpResponseHeader("x-counter", strconv.FormatUint(h.p.requests.Value(), 10))
	return types.ActionContinue
}
