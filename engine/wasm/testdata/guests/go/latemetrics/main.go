// Command latemetrics is a Proxy-Wasm test guest for metrics Envoy's dynamic-modules ABI
// cannot treat like the others: a counter changed only by the root context's timer
// (wasmtest_tick_total, defined at start, incremented every 50 ms), and a counter, gauge and
// histogram defined at the first request (after the plugin loaded). x-late returns the late
// counter's value.
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
	ticks     proxywasm.MetricCounter
	late      proxywasm.MetricCounter
	lateGauge proxywasm.MetricGauge
	lateHist  proxywasm.MetricHistogram
	defined   bool
}

func (p *pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	p.ticks = proxywasm.DefineCounterMetric("wasmtest_tick_total")
	if err := proxywasm.SetTickPeriodMilliSeconds(50); err != nil {
		proxywasm.LogCriticalf("set tick period: %v", err)
	}
	return types.OnPluginStartStatusOK
}

func (p *pluginContext) OnTick() { p.ticks.Increment(1) }

func (p *pluginContext) NewHttpContext(uint32) types.HttpContext { return &httpContext{p: p} }

type httpContext struct {
	types.DefaultHttpContext
	p *pluginContext
}

func (h *httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	p := h.p
	if !p.defined {
		p.late = proxywasm.DefineCounterMetric("wasmtest_late_total")
		p.lateGauge = proxywasm.DefineGaugeMetric("wasmtest_late_gauge")
		p.lateHist = proxywasm.DefineHistogramMetric("wasmtest_late_hist")
		p.defined = true
	}
	p.late.Increment(1)
	p.lateGauge.Add(2)
	p.lateHist.Record(7)
	return types.ActionContinue
}

func (h *httpContext) OnHttpResponseHeaders(int, bool) types.Action {
	proxywasm.ReplaceHttpResponseHeader("x-late", strconv.FormatUint(h.p.late.Value(), 10))
	return types.ActionContinue
}
