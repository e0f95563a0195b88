// Command body is a Proxy-Wasm test guest that rewrites bodies. The plugin configuration is
// "<mode>:<buffered|streaming>" with mode append, prepend or replace; it applies to the
// request body and the response body.
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

type pluginContext struct {
	types.DefaultPluginContext
	mode     string
	buffered bool
}

func (p *pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	b, _ := proxywasm.GetPluginConfiguration()
	mode, how, _ := strings.Cut(string(b), ":")
	p.mode, p.buffered = mode, how != "streaming"
	return types.OnPluginStartStatusOK
}

func (p *pluginContext) NewHttpContext(uint32) types.HttpContext {
	return &httpContext{p: p}
}

type httpContext struct {
	types.DefaultHttpContext
	p                   *pluginContext
	reqFirst, respFirst bool
}

func (h *httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	proxywasm.RemoveHttpRequestHeader("content-length")
	return types.ActionContinue
}

func (h *httpContext) OnHttpResponseHeaders(int, bool) types.Action {
	proxywasm.RemoveHttpResponseHeader("content-length")
	return types.ActionContinue
}

type ops struct {
	get                      func(int, int) ([]byte, error)
	appendB, prependB, replB func([]byte) error
}

func (h *httpContext) rewrite(o ops, size int, eos bool, first *bool, tag string) types.Action {
	if h.p.buffered {
		if !eos {
			return types.ActionPause
		}
		switch h.p.mode {
		case "append":
			o.appendB([]byte("+" + tag + "-appended"))
		case "prepend":
			o.prependB([]byte(tag + "-prepended+"))
		case "replace":
			old, _ := o.get(0, size)
			o.replB([]byte(tag + "-replaced(" + strings.ToUpper(string(old)) + ")"))
		}
		return types.ActionContinue
	}
	switch h.p.mode {
	case "append":
		if eos {
			o.appendB([]byte("+" + tag + "-appended"))
		}
	case "prepend":
		if !*first {
			o.prependB([]byte(tag + "-prepended+"))
		}
	case "replace":
		old, _ := o.get(0, size)
		o.replB([]byte(strings.ToUpper(string(old))))
	}
	*first = true
	return types.ActionContinue
}

func (h *httpContext) OnHttpRequestBody(size int, eos bool) types.Action {
	return h.rewrite(ops{proxywasm.GetHttpRequestBody, proxywasm.AppendHttpRequestBody, proxywasm.PrependHttpRequestBody, proxywasm.ReplaceHttpRequestBody}, size, eos, &h.reqFirst, "req")
}

func (h *httpContext) OnHttpResponseBody(size int, eos bool) types.Action {
	return h.rewrite(ops{proxywasm.GetHttpResponseBody, proxywasm.AppendHttpResponseBody, proxywasm.PrependHttpResponseBody, proxywasm.ReplaceHttpResponseBody}, size, eos, &h.respFirst, "resp")
}
