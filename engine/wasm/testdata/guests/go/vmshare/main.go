// Command vmshare is a Proxy-Wasm test guest that shows which plugins share its VM. Every
// plugin context (root context) counts itself in a VM global; every OnPluginStart counts
// itself in shared data (key "starts-" + plugin configuration). The response carries, per
// plugin (its configuration "a", "b", ...): x-<cfg>-root (its root context id), x-<cfg>-roots
// (root contexts in this VM), for "s" x-s-starts (OnPluginStart calls of plugins so
// configured, process-wide), and for "b" x-b-after-a: its stream context id minus that of plugin "a" in
// the same request when "a" ran in this VM (else 0).
package main

import (
	"errors"
	"strconv"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() { proxywasm.SetVMContext(&vmContext{}) }

// VM-wide state: shared by every root context of this VM.
var (
	roots    int
	lastAID  uint32
	lastASet bool
)

type vmContext struct{ types.DefaultVMContext }

func (*vmContext) NewPluginContext(id uint32) types.PluginContext {
	roots++
	return &pluginContext{id: id}
}

type pluginContext struct {
	types.DefaultPluginContext
	id  uint32
	cfg string
}

func (p *pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	b, _ := proxywasm.GetPluginConfiguration()
	p.cfg = string(b)
	key := "starts-" + p.cfg
	for {
		v, cas, err := proxywasm.GetSharedData(key)
		if err != nil && !errors.Is(err, types.ErrorStatusNotFound) {
			proxywasm.LogErrorf("get shared data: %v", err)
			break
		}
		n, _ := strconv.Atoi(string(v))
		if err := proxywasm.SetSharedData(key, []byte(strconv.Itoa(n+1)), cas); !errors.Is(err, types.ErrorStatusCasMismatch) {
			break
		}
	}
	proxywasm.LogInfof("plugin %s started: root context %d, %d root contexts in this VM", p.cfg, p.id, roots)
	return types.OnPluginStartStatusOK
}

func (p *pluginContext) NewHttpContext(id uint32) types.HttpContext {
	return &httpContext{p: p, id: id}
}

type httpContext struct {
	types.DefaultHttpContext
	p  *pluginContext
	id uint32
}

func (h *httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	if h.p.cfg == "a" {
		lastAID, lastASet = h.id, true
	}
	return types.ActionContinue
}

func (h *httpContext) OnHttpResponseHeaders(int, bool) types.Action {
	pre := "x-" + h.p.cfg + "-"
	proxywasm.ReplaceHttpResponseHeader(pre+"root", strconv.Itoa(int(h.p.id)))
	proxywasm.ReplaceHttpResponseHeader(pre+"roots", strconv.Itoa(roots))
	if h.p.cfg == "s" {
		v, _, _ := proxywasm.GetSharedData("starts-s")
		proxywasm.ReplaceHttpResponseHeader(pre+"starts", string(v))
	}
	if h.p.cfg == "b" {
		d := 0
		if lastASet {
			d = int(h.id) - int(lastAID)
		}
		proxywasm.ReplaceHttpResponseHeader("x-b-after-a", strconv.Itoa(d))
	}
	return types.ActionContinue
}
