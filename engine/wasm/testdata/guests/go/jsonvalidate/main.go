// Command jsonvalidate is a Proxy-Wasm test guest: a POST body must be a JSON object holding
// every key listed in the plugin configuration (comma-separated), else the request is
// answered 403.
package main

import (
	"encoding/json"
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
	keys []string
}

func (p *pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	b, _ := proxywasm.GetPluginConfiguration()
	for _, k := range strings.Split(string(b), ",") {
		if k = strings.TrimSpace(k); k != "" {
			p.keys = append(p.keys, k)
		}
	}
	return types.OnPluginStartStatusOK
}

func (p *pluginContext) NewHttpContext(uint32) types.HttpContext { return &httpContext{p: p} }

type httpContext struct {
	types.DefaultHttpContext
	p *pluginContext
}

func (h *httpContext) OnHttpRequestHeaders(_ int, eos bool) types.Action {
	if eos {
		return types.ActionContinue
	}
	ct, _ := proxywasm.GetHttpRequestHeader("content-type")
	if ct != "application/json" {
		proxywasm.SendHttpResponse(403, [][2]string{{"x-validation", "content-type"}}, []byte("content-type must be application/json\n"), -1)
		return types.ActionPause
	}
	return types.ActionContinue
}

func (h *httpContext) OnHttpRequestBody(size int, eos bool) types.Action {
	if !eos {
		return types.ActionPause
	}
	body, err := proxywasm.GetHttpRequestBody(0, size)
	if err != nil {
		proxywasm.SendHttpResponse(500, nil, []byte("cannot read body\n"), -1)
		return types.ActionPause
	}
	var obj map[string]any
	if err := json.Unmarshal(body, &obj); err != nil {
		proxywasm.SendHttpResponse(403, [][2]string{{"x-validation", "json"}}, []byte("invalid JSON\n"), -1)
		return types.ActionPause
	}
	for _, k := range h.p.keys {
		if _, ok := obj[k]; !ok {
			proxywasm.SendHttpResponse(403, [][2]string{{"x-validation", "missing-" + k}}, []byte("missing key "+k+"\n"), -1)
			return types.ActionPause
		}
	}
	return types.ActionContinue
}
