// Command shareddata is a Proxy-Wasm test guest: every request increments a shared-data
// counter (key = plugin configuration) with compare-and-swap and returns the new value in the
// x-hits response header.
package main

import (
	"errors"
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
	key string
}

func (p *pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	b, _ := proxywasm.GetPluginConfiguration()
	p.key = string(b)
	if p.key == "" {
		p.key = "hits"
	}
	return types.OnPluginStartStatusOK
}

func (p *pluginContext) NewHttpContext(uint32) types.HttpContext { return &httpContext{p: p} }

type httpContext struct {
	types.DefaultHttpContext
	p    *pluginContext
	hits int
}

func (h *httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	for {
		v, cas, err := proxywasm.GetSharedData(h.p.key)
		if err != nil && !errors.Is(err, types.ErrorStatusNotFound) {
			proxywasm.LogErrorf("get shared data: %v", err)
			return types.ActionContinue
		}
		n, _ := strconv.Atoi(string(v))
		n++
		err = proxywasm.SetSharedData(h.p.key, []byte(strconv.Itoa(n)), cas)
		if errors.Is(err, types.ErrorStatusCasMismatch) {
			continue
		}
		h.hits = n
		return types.ActionContinue
	}
}

func (h *httpContext) OnHttpResponseHeaders(int, bool) types.Action {
	proxywasm.ReplaceHttpResponseHeader("x-hits", strconv.Itoa(h.hits))
	return types.ActionContinue
}
