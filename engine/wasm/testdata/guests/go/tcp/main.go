// Command tcp is a Proxy-Wasm network (TCP) test guest in the shape of the Go SDK's network
// example: it counts connections and bytes each direction in metrics, logs every event with
// the data seen, tags each connection with its source and destination, and logs on close.
// The words of the plugin configuration may ask for more: "upper" upper-cases downstream data,
// "prefix" prepends "wasm:" to upstream data, "hold" stops downstream data until 8 bytes
// arrived, "close-on-quit" closes the connection (proxy_close_stream) when the downstream
// sends "quit".
package main

import (
	"bytes"
	"strings"
	"unicode"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() { proxywasm.SetVMContext(&vmContext{}) }

type vmContext struct{ types.DefaultVMContext }

func (*vmContext) NewPluginContext(uint32) types.PluginContext { return &pluginContext{} }

type pluginContext struct {
	types.DefaultPluginContext
	opts                map[string]bool
	connections, closed proxywasm.MetricCounter
	downBytes, upBytes  proxywasm.MetricCounter
	active              proxywasm.MetricGauge
}

func (p *pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	p.opts = map[string]bool{}
	if cfg, err := proxywasm.GetPluginConfiguration(); err == nil {
		// Words of the configuration: plain text, or the JSON a TrafficExtension's pluginConfig
		// becomes ({"mode": "upper prefix"}).
		for _, o := range strings.FieldsFunc(string(cfg), func(r rune) bool { return !unicode.IsLetter(r) && r != '-' }) {
			p.opts[o] = true
		}
	}
	p.connections = proxywasm.DefineCounterMetric("tcptest_connections_total")
	p.closed = proxywasm.DefineCounterMetric("tcptest_closed_total")
	p.downBytes = proxywasm.DefineCounterMetric("tcptest_downstream_bytes_total")
	p.upBytes = proxywasm.DefineCounterMetric("tcptest_upstream_bytes_total")
	p.active = proxywasm.DefineGaugeMetric("tcptest_active")
	return types.OnPluginStartStatusOK
}

func (p *pluginContext) NewTcpContext(uint32) types.TcpContext { return &tcpContext{p: p} }

type tcpContext struct {
	types.DefaultTcpContext
	p         *pluginContext
	down, up  int
	tlsLogged bool
}

func property(path ...string) string {
	v, err := proxywasm.GetProperty(path)
	if err != nil {
		return "-"
	}
	return string(v)
}

func (c *tcpContext) OnNewConnection() types.Action {
	c.p.connections.Increment(1)
	c.p.active.Add(1)
	id, err := proxywasm.GetProperty([]string{"connection_id"})
	proxywasm.LogInfof("new connection from %s to %s (source port %d bytes, connection_id %d bytes, %v)", property("source", "address"), property("destination", "address"),
		len(property("source", "port")), len(id), err)
	return types.ActionContinue
}

func (c *tcpContext) OnDownstreamData(size int, end bool) types.Action {
	data, err := proxywasm.GetDownstreamData(0, size)
	if err != nil && size > 0 {
		proxywasm.LogErrorf("reading downstream data: %v", err)
	}
	proxywasm.LogInfof("downstream data (%d bytes, end %v): %q", size, end, data)
	if !c.tlsLogged {
		c.tlsLogged = true
		proxywasm.LogInfof("tls: version %q sni %q mtls %q peer %q local %q peer uri %q", property("connection", "tls_version"),
			property("connection", "requested_server_name"), property("connection", "mtls"),
			property("connection", "subject_peer_certificate"), property("connection", "subject_local_certificate"),
			property("connection", "uri_san_peer_certificate"))
	}
	if c.p.opts["hold"] && size < 8 && !end {
		return types.ActionPause
	}
	c.down += size
	if size > 0 { // a counter moves by a positive offset only
		c.p.downBytes.Increment(uint64(size))
	}
	if c.p.opts["close-on-quit"] && bytes.Contains(data, []byte("quit")) {
		if err := proxywasm.CloseDownstream(); err != nil {
			proxywasm.LogErrorf("closing: %v", err)
		}
		return types.ActionContinue
	}
	if c.p.opts["upper"] && size > 0 {
		if err := proxywasm.ReplaceDownstreamData(bytes.ToUpper(data)); err != nil {
			proxywasm.LogErrorf("replacing downstream data: %v", err)
		}
	}
	return types.ActionContinue
}

func (c *tcpContext) OnUpstreamData(size int, end bool) types.Action {
	data, err := proxywasm.GetUpstreamData(0, size)
	if err != nil && size > 0 {
		proxywasm.LogErrorf("reading upstream data: %v", err)
	}
	proxywasm.LogInfof("upstream data (%d bytes, end %v) from %s: %q", size, end, property("upstream", "address"), data)
	c.up += size
	if size > 0 {
		c.p.upBytes.Increment(uint64(size))
	}
	if c.p.opts["prefix"] && size > 0 {
		if err := proxywasm.PrependUpstreamData([]byte("wasm:")); err != nil {
			proxywasm.LogErrorf("prepending upstream data: %v", err)
		}
	}
	return types.ActionContinue
}

func (c *tcpContext) OnDownstreamClose(peer types.PeerType) {
	proxywasm.LogInfof("downstream closed (peer type %d)", peer)
}

func (c *tcpContext) OnUpstreamClose(peer types.PeerType) {
	proxywasm.LogInfof("upstream closed (peer type %d)", peer)
}

func (c *tcpContext) OnStreamDone() {
	c.p.closed.Increment(1)
	c.p.active.Add(-1)
	proxywasm.LogInfof("connection done: %d bytes downstream, %d bytes upstream", c.down, c.up)
}
