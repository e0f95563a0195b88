// Command hashparity is the benchmark guest of Istio's Wasm performance table: it hashes every
// request header (FNV-1a over names and values) and answers locally 200 when the hash is even,
// 500 when it is odd.
package main

import (
	"hash/fnv"

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
	hs, err := proxywasm.GetHttpRequestHeaders()
	if err != nil {
		return types.ActionContinue
	}
	h := fnv.New32a()
	for _, kv := range hs {
		h.Write([]byte(kv[0]))
		h.Write([]byte(kv[1]))
	}
	status := uint32(200)
	if h.Sum32()%2 == 1 {
		status = 500
	}
	proxywasm.SendHttpResponse(status, nil, nil, -1)
	return types.ActionPause
}
