// Command localreply is a Proxy-Wasm test guest: a request whose path starts with /local is
// answered by the plugin with status, headers and body; others pass.
package main

import (
	"strings"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() { proxywasm.SetVMContext(&vmContext{}) }

type vmContext struct{ types.DefaultVMContext }

func (*vmContext) NewPluginContext(uint32) types.PluginContext { return &pluginContext{} }

type pluginContext struct{ types.DefaultPluginContext }

func (*pluginContext) NewHttpContext(uint32) types.HttpContext { return &httpContext{} }

type httpContext struct{ types.DefaultHttpContext }

func (*httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	path, _ := proxywasm.GetHttpRequestHeader(":path")
	if !strings.HasPrefix(path, "/local") {
		return types.ActionContinue
	}
	proxywasm.SendHttpResponse(418, [][2]string{
		{"x-local-reply", "yes"},
		{"X-Mixed-Case", "Value"},
		{"content-type", "text/plain"},
	}, []byte("short and stout\n"), -1)
	return types.ActionPause
}
