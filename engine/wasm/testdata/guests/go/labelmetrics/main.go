// Command labelmetrics is a Proxy-Wasm test guest after the Go SDK's metrics example: metric
// names carry "_key=value" parts that Envoy's stats_tags (bootstrap) turn into labels. A
// counter defined at start (wasmtest_boot_counts_value=boot_reporter=wasmgosdk) counts every
// request; at each request a counter named after the my-custom-header value
// (custom_header_value_counts_value=<v>_reporter=wasmgosdk) is defined when new, then
// incremented. x-config returns the plugin configuration.
package main

import (
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() { proxywasm.SetVMContext(&vmContext{}) }

type vmContext struct{ types.DefaultVMContext }

func (*vmContext) NewPluginContext(uint32) types.PluginContext {
	return &pluginContext{counters: map[string]proxywasm.MetricCounter{}}
}

type pluginContext struct {
	types.DefaultPluginContext
	cfg      string
	boot     proxywasm.MetricCounter
	counters map[string]proxywasm.MetricCounter
}

func (p *pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	b, _ := proxywasm.GetPluginConfiguration()
	p.cfg = string(b)
	p.boot = proxywasm.DefineCounterMetric("wasmtest_boot_counts_value=boot_reporter=wasmgosdk")
	return types.OnPluginStartStatusOK
}

func (p *pluginContext) NewHttpContext(uint32) types.HttpContext { return &httpContext{p: p} }

type httpContext struct {
	types.DefaultHttpContext
	p *pluginContext
}

func (h *httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	h.p.boot.Increment(1)
	v, err := proxywasm.GetHttpRequestHeader("my-custom-header")
	if err != nil {
		return types.ActionContinue
	}
	c, ok := h.p.counters[v]
	if !ok {
		c = proxywasm.DefineCounterMetric("custom_header_value_counts_value=" + v + "_reporter=wasmgosdk")
		h.p.counters[v] = c
	}
	c.Increment(1)
	return types.ActionContinue
}

func (h *httpContext) OnHttpResponseHeaders(int, bool) types.Action {
	proxywasm.ReplaceHttpResponseHeader("x-config", h.p.cfg)
	return types.ActionContinue
}
