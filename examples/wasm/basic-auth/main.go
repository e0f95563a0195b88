// Command basic-auth is a Proxy-Wasm HTTP plugin (Go SDK, GOOS=wasip1) that answers 401 with
// a WWW-Authenticate challenge when a request matching a rule carries no valid Basic
// credentials. Its configuration is that of Istio's basic-auth Wasm extension (see Config).
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o basic-auth.wasm .
package main

import (
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

// A wasip1 reactor runs init, never main: the VM context is registered here.
func init() { proxywasm.SetVMContext(&vm{}) }

func main() {}

// version is set at build time (-ldflags "-X main.version=0.0.2").
var version = "dev"

type vm struct{ types.DefaultVMContext }

func (*vm) NewPluginContext(uint32) types.PluginContext { return &plugin{} }

type plugin struct {
	types.DefaultPluginContext
	policy *policy
}

// OnPluginStart reads and checks the configuration; a bad one fails the plugin (the host then
// applies the extension's fail strategy).
func (p *plugin) OnPluginStart(size int) types.OnPluginStartStatus {
	var data []byte
	if size > 0 {
		var err error
		if data, err = proxywasm.GetPluginConfiguration(); err != nil {
			proxywasm.LogErrorf("basic-auth: reading the plugin configuration: %v", err)
			return types.OnPluginStartStatusFailed
		}
	}
	pol, err := parseConfig(data)
	if err != nil {
		proxywasm.LogErrorf("basic-auth: %v", err)
		return types.OnPluginStartStatusFailed
	}
	p.policy = pol
	proxywasm.LogInfof("basic-auth: %d method(s) protected, realm %q", len(pol.byVerb), pol.realm)
	return types.OnPluginStartStatusOK
}

func (p *plugin) NewHttpContext(uint32) types.HttpContext { return &request{policy: p.policy} }

type request struct {
	types.DefaultHttpContext
	policy *policy
}

func (r *request) OnHttpRequestHeaders(int, bool) types.Action {
	method, _ := proxywasm.GetHttpRequestHeader(":method")
	path, _ := proxywasm.GetHttpRequestHeader(":path")
	auth, _ := proxywasm.GetHttpRequestHeader("authorization")
	msg := r.policy.check(method, path, auth)
	if msg == "" {
		return types.ActionContinue
	}
	headers := [][2]string{{"WWW-Authenticate", "Basic realm=" + r.policy.realm}}
	if err := proxywasm.SendHttpResponse(401, headers, []byte(msg), -1); err != nil {
		proxywasm.LogErrorf("basic-auth: sending 401: %v", err)
	}
	return types.ActionPause
}

func (r *request) OnHttpResponseHeaders(int, bool) types.Action {
	if h := r.policy.versionHeader; h != "" {
		if err := proxywasm.ReplaceHttpResponseHeader(h, version); err != nil {
			proxywasm.LogWarnf("basic-auth: setting %s: %v", h, err)
		}
	}
	return types.ActionContinue
}
