// Command waf is a Proxy-Wasm WAF plugin of trafficext's own on github.com/corazawaf/coraza/v3
// with the OWASP Core Rule Set embedded by github.com/corazawaf/coraza-coreruleset/v4. The
// plugin configuration holds extra SecLang directives appended after the default set
// (coraza recommended configuration, SecRuleEngine On, CRS setup, all CRS rules). A request
// that the rules interrupt is answered with the interruption's status (403) and the header
// x-waf-rule naming the rule; the counters waf_requests_total and waf_interruptions_total are
// defined at plugin start.
package main

import (
	"strconv"
	"strings"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	ctypes "github.com/corazawaf/coraza/v3/types"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

const defaultDirectives = `Include @coraza.conf-recommended
SecRuleEngine On
SecRequestBodyAccess On
Include @crs-setup.conf.example
Include @owasp_crs/*.conf
`

func main() {}

func init() { proxywasm.SetVMContext(&vmContext{}) }

type vmContext struct{ types.DefaultVMContext }

func (*vmContext) NewPluginContext(uint32) types.PluginContext { return &pluginContext{} }

type pluginContext struct {
	types.DefaultPluginContext
	waf           coraza.WAF
	requests      proxywasm.MetricCounter
	interruptions proxywasm.MetricCounter
}

func (p *pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	extra, _ := proxywasm.GetPluginConfiguration()
	cfg := coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(defaultDirectives + string(extra))
	waf, err := coraza.NewWAF(cfg)
	if err != nil {
		proxywasm.LogCriticalf("waf: loading rules: %v", err)
		return types.OnPluginStartStatusFailed
	}
	p.waf = waf
	p.requests = proxywasm.DefineCounterMetric("waf_requests_total")
	p.interruptions = proxywasm.DefineCounterMetric("waf_interruptions_total")
	return types.OnPluginStartStatusOK
}

func (p *pluginContext) NewHttpContext(uint32) types.HttpContext {
	return &httpContext{p: p, tx: p.waf.NewTransaction()}
}

type httpContext struct {
	types.DefaultHttpContext
	p           *pluginContext
	tx          ctypes.Transaction
	interrupted bool
}

func property(path ...string) string {
	b, _ := proxywasm.GetProperty(path)
	return string(b)
}

func hostPort(addr string) (string, int) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return addr, 0
	}
	port, _ := strconv.Atoi(addr[i+1:])
	return addr[:i], port
}

func (h *httpContext) deny(it *ctypes.Interruption) types.Action {
	h.interrupted = true
	h.p.interruptions.Increment(1)
	status := it.Status
	if status == 0 {
		status = 403
	}
	proxywasm.SendHttpResponse(uint32(status), [][2]string{{"x-waf-rule", strconv.Itoa(it.RuleID)}}, []byte("blocked by the WAF\n"), -1)
	return types.ActionPause
}

func (h *httpContext) OnHttpRequestHeaders(_ int, eos bool) types.Action {
	h.p.requests.Increment(1)
	tx := h.tx
	srcIP, srcPort := hostPort(property("source", "address"))
	dstIP, dstPort := hostPort(property("destination", "address"))
	tx.ProcessConnection(srcIP, srcPort, dstIP, dstPort)
	hs, err := proxywasm.GetHttpRequestHeaders()
	if err != nil {
		return types.ActionContinue
	}
	var method, path, proto = "GET", "/", property("request", "protocol")
	for _, kv := range hs {
		switch kv[0] {
		case ":method":
			method = kv[1]
		case ":path":
			path = kv[1]
		case ":authority":
			tx.AddRequestHeader("Host", kv[1])
			tx.SetServerName(kv[1])
		default:
			tx.AddRequestHeader(kv[0], kv[1])
		}
	}
	if proto == "" {
		proto = "HTTP/1.1"
	}
	tx.ProcessURI(path, method, proto)
	if it := tx.ProcessRequestHeaders(); it != nil {
		return h.deny(it)
	}
	if eos {
		it, err := tx.ProcessRequestBody()
		if err == nil && it != nil {
			return h.deny(it)
		}
	}
	return types.ActionContinue
}

func (h *httpContext) OnHttpRequestBody(size int, eos bool) types.Action {
	if h.interrupted {
		return types.ActionContinue
	}
	if !eos {
		return types.ActionPause
	}
	body, err := proxywasm.GetHttpRequestBody(0, size)
	if err == nil && len(body) > 0 {
		if it, _, err := h.tx.WriteRequestBody(body); err == nil && it != nil {
			return h.deny(it)
		}
	}
	it, err := h.tx.ProcessRequestBody()
	if err == nil && it != nil {
		return h.deny(it)
	}
	return types.ActionContinue
}

func (h *httpContext) OnHttpStreamDone() {
	h.tx.ProcessLogging()
	h.tx.Close()
}
