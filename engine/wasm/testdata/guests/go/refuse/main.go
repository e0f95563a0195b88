// Command refuse is a Proxy-Wasm test guest that refuses a plugin configuration "refuse" (and
// a VM configuration "refuse"); otherwise it returns its configuration in x-config.
package main

import (
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() { proxywasm.SetVMContext(&vmContext{}) }

type vmContext struct{ types.DefaultVMContext }

func (*vmContext) OnVMStart(int) types.OnVMStartStatus {
	if b, _ := proxywasm.GetVMConfiguration(); string(b) == "refuse" {
		return types.OnVMStartStatusFailed
	}
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
	if p.config == "refuse" {
		proxywasm.LogWarn("refusing configuration")
		return types.OnPluginStartStatusFailed
	}
	return types.OnPluginStartStatusOK
}

func (p *pluginContext) NewHttpContext(uint32) types.HttpContext { return &httpContext{p: p} }

type httpContext struct {
	types.DefaultHttpContext
	p *pluginContext
}

func (h *httpContext) OnHttpResponseHeaders(int, bool) types.Action {
	proxywasm.ReplaceHttpResponseHeader("x-config", h.p.config)
	return types.ActionContinue
}
