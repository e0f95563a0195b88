// Command logprefix is a Proxy-Wasm test guest that logs (at warn) from each kind of context:
// the VM context (init, during _initialize), the root context (VM start, plugin start) and a
// stream context, each line naming the plugin configuration, so that a test can compare the
// host's log prefixes with Envoy's.
package main

import (
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() {
	proxywasm.LogWarn("logprefix init")
	proxywasm.SetVMContext(&vmContext{})
}

type vmContext struct{ types.DefaultVMContext }

func (*vmContext) OnVMStart(int) types.OnVMStartStatus {
	b, _ := proxywasm.GetVMConfiguration()
	proxywasm.LogWarnf("logprefix vm start %s", b)
	return types.OnVMStartStatusOK
}

func (*vmContext) NewPluginContext(uint32) types.PluginContext { return &pluginContext{} }

type pluginContext struct {
	types.DefaultPluginContext
	config string
}

func (p *pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	b, _ := proxywasm.GetPluginConfiguration()
	p.config = string(b)
	proxywasm.LogWarnf("logprefix plugin start %s", p.config)
	return types.OnPluginStartStatusOK
}

func (p *pluginContext) NewHttpContext(uint32) types.HttpContext { return &httpContext{p: p} }

type httpContext struct {
	types.DefaultHttpContext
	p *pluginContext
}

func (h *httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	proxywasm.LogWarnf("logprefix stream %s", h.p.config)
	return types.ActionContinue
}
