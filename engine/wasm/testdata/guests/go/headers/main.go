// Command headers is a Proxy-Wasm test guest: header add/replace/remove on both paths and an
// echo of properties and configuration into response headers.
package main

import (
	"strings"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() { proxywasm.SetVMContext(&vmContext{}) }

type vmContext struct{ types.DefaultVMContext }

var vmConfig string

func (*vmContext) OnVMStart(int) types.OnVMStartStatus {
	b, _ := proxywasm.GetVMConfiguration()
	vmConfig = string(b)
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
	return types.OnPluginStartStatusOK
}

func (p *pluginContext) NewHttpContext(uint32) types.HttpContext {
	return &httpContext{p: p}
}

type httpContext struct {
	types.DefaultHttpContext
	p     *pluginContext
	props [][2]string
}

func prop(path ...string) string {
	b, err := proxywasm.GetProperty(path)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

func (h *httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	proxywasm.AddHttpRequestHeader("x-req-added", "guest")
	proxywasm.ReplaceHttpRequestHeader("x-req-replace", "replaced")
	proxywasm.RemoveHttpRequestHeader("x-req-remove")
	v, err := proxywasm.GetHttpRequestHeader("x-req-echo")
	if err == nil {
		proxywasm.AddHttpRequestHeader("x-req-echoed", v)
	}
	src := prop("source", "address")
	if i := strings.LastIndexByte(src, ':'); i > 0 {
		src = src[:i]
	}
	h.props = [][2]string{
		{"x-prop-path", prop("request", "path")},
		{"x-prop-method", prop("request", "method")},
		{"x-prop-source", src},
		{"x-prop-plugin-name", prop("plugin_name")},
		{"x-prop-root-id", prop("plugin_root_id")},
		{"x-prop-header", prop("request", "headers", "x-req-echo")},
		{"x-plugin-config", h.p.config},
		{"x-vm-config", vmConfig},
	}
	proxywasm.LogInfof("request headers seen: %s", prop("request", "path"))
	return types.ActionContinue
}

func (h *httpContext) OnHttpResponseHeaders(int, bool) types.Action {
	proxywasm.AddHttpResponseHeader("x-resp-added", "guest")
	proxywasm.ReplaceHttpResponseHeader("x-resp-replace", "replaced")
	proxywasm.RemoveHttpResponseHeader("x-resp-remove")
	for _, kv := range h.props {
		proxywasm.ReplaceHttpResponseHeader(kv[0], kv[1])
	}
	return types.ActionContinue
}
