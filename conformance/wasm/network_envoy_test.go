//go:build conformance

package wasm_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/trafficext/trafficext/engine/wasm/wasmtest"
	"github.com/trafficext/trafficext/extconfig"
	"github.com/trafficext/trafficext/internal/envoyproc"
	"github.com/trafficext/trafficext/internal/testpki"
)

// The network (L4) differential: every scenario gets two TCP listeners in one Envoy 1.39,
// one whose filter chain runs a TCP guest as our network filter
// (envoy.filters.network.dynamic_modules) and one on Envoy's own V8 network Wasm filter
// (envoy.filters.network.wasm), both in front of tcp_proxy to a raw TCP echo upstream. The
// same exchanges go to both; the bytes received, how the connection ended, the guest's log
// lines and its metrics must be identical.

// netExchange is one client connection: it writes chunks (pausing between them), then
// half-closes and reads until the proxy closes.
type netExchange struct {
	// tls, when set, makes the client speak TLS over the connection.
	tls    *tls.Config
	chunks []string
	// keepOpen: do not half-close (the guest closes the connection itself).
	keepOpen bool
}

type netScenario struct {
	name   string
	guest  wasmtest.Guest
	config string
	conns  []netExchange
	// check verifies what our listener's client received.
	check func(t *testing.T, i int, r netResult)
	// diffFirst: only the first connection is diffed, and neither logs nor metrics (a
	// documented difference follows it).
	diffFirst bool
	// mtls: the listeners terminate TLS and require a client certificate (netPKI).
	mtls bool
}

// netResult is what a client saw: the bytes and how the connection ended.
type netResult struct {
	Data string
	End  string // "eof" or the read error
}

// tcpEcho is the raw upstream: it echoes every chunk as it arrives and, at the client's
// half-close, half-closes too (a well-behaved echo: "same close behaviour" is observable).
func tcpEcho(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
				time.Sleep(50 * time.Millisecond)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

func netDo(t *testing.T, port int, x netExchange) netResult {
	t.Helper()
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if x.tls != nil {
		tc := tls.Client(c, x.tls)
		if err := tc.Handshake(); err != nil {
			return netResult{End: "handshake: " + err.Error()}
		}
		c = tlsHalfCloser{tc}
	}
	for i, ch := range x.chunks {
		if i > 0 {
			time.Sleep(100 * time.Millisecond) // separate reads at the proxy
		}
		if _, err := io.WriteString(c, ch); err != nil {
			return netResult{End: "write: " + err.Error()}
		}
	}
	if !x.keepOpen {
		// Apart from the data, so that the half-close is its own read on both hosts.
		time.Sleep(100 * time.Millisecond)
		c.(interface{ CloseWrite() error }).CloseWrite()
	}
	var buf bytes.Buffer
	_, err = io.Copy(&buf, c)
	r := netResult{Data: buf.String(), End: "eof"}
	if err != nil {
		r.End = "error"
		if errors.Is(err, net.ErrClosed) {
			r.End = "closed"
		}
	}
	return r
}

// tlsHalfCloser is a client TLS connection whose CloseWrite sends close_notify.
type tlsHalfCloser struct{ *tls.Conn }

// netPKI is the mTLS of the "mtls" scenarios: a server certificate for tcp.test, a client
// certificate with a SPIFFE URI, their CA; the server's PEM files are in dir.
type netPKI struct {
	client            *tls.Config
	cert, key, caFile string
}

func newNetPKI(t testing.TB) netPKI {
	ca, err := testpki.NewCA(pkix.Name{CommonName: "net-test-ca"})
	if err != nil {
		t.Fatal(err)
	}
	srvCert, srvKey, err := ca.Issue(testpki.Leaf{Serial: 2, Subject: pkix.Name{CommonName: "tcp.test"}, DNS: []string{"tcp.test"}, Usage: x509.ExtKeyUsageServerAuth})
	if err != nil {
		t.Fatal(err)
	}
	cliCert, cliKey, err := ca.Issue(testpki.Leaf{Serial: 3, Subject: pkix.Name{CommonName: "client", Organization: []string{"apps"}},
		URIs: []string{"spiffe://cluster.local/ns/apps/sa/client"}, Usage: x509.ExtKeyUsageClientAuth})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := netPKI{cert: filepath.Join(dir, "tls.crt"), key: filepath.Join(dir, "tls.key"), caFile: filepath.Join(dir, "ca.crt")}
	for f, b := range map[string][]byte{p.cert: srvCert, p.key: srvKey, p.caFile: ca.PEM} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pair, err := tls.X509KeyPair(cliCert, cliKey)
	if err != nil {
		t.Fatal(err)
	}
	p.client = &tls.Config{ServerName: "tcp.test", RootCAs: ca.Pool(), Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS13}
	return p
}

// transportSocket is the listeners' downstream mTLS.
func (p netPKI) transportSocket() map[string]any {
	file := func(f string) map[string]any { return map[string]any{"filename": f} }
	return map[string]any{"name": "envoy.transport_sockets.tls", "typed_config": map[string]any{
		"@type":                      "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
		"require_client_certificate": true,
		"common_tls_context": map[string]any{
			"tls_certificates":   []any{map[string]any{"certificate_chain": file(p.cert), "private_key": file(p.key)}},
			"validation_context": map[string]any{"trusted_ca": file(p.caFile)},
		},
	}}
}

var (
	wasmLogLine = regexp.MustCompile(`wasm log (\S+) (\S+) (\S*): (.*)$`)
	loopAddr    = regexp.MustCompile(`127\.0\.0\.1:\d+`)
)

func ourNetworkFilter(t testing.TB, name string, g wasmtest.Guest, config string) map[string]any {
	ext := extconfig.Extension{Name: name, Wasm: &extconfig.Wasm{
		Path: g.Path, SHA256: g.SHA256, PluginName: "root", VMID: name[strings.LastIndexByte(name, '.')+1:], PluginConfig: []byte(config),
	}}
	raw, err := extconfig.Marshal(&ext)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{
		"name": name,
		"typed_config": map[string]any{
			"@type":                 "type.googleapis.com/envoy.extensions.filters.network.dynamic_modules.v3.DynamicModuleNetworkFilter",
			"dynamic_module_config": map[string]any{"name": "trafficext", "do_not_close": true},
			"filter_name":           "trafficext",
			"filter_config":         stringValue(string(raw)),
		},
	}
}

func v8NetworkFilter(name string, g wasmtest.Guest, config string) map[string]any {
	short := name[strings.LastIndexByte(name, '/')+1:]
	return map[string]any{
		"name": "v8-" + name,
		"typed_config": map[string]any{
			"@type": "type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm",
			"config": map[string]any{
				"name": short, "root_id": "root",
				"configuration": stringValue(config),
				"vm_config": map[string]any{
					"vm_id": short[strings.LastIndexByte(short, '.')+1:], "runtime": "envoy.wasm.runtime.v8", // a VM per scenario
					"code": map[string]any{"local": map[string]any{"filename": g.Path}},
				},
			},
		},
	}
}

func tcpProxy(prefix string) map[string]any {
	return map[string]any{"name": "envoy.filters.network.tcp_proxy", "typed_config": map[string]any{
		"@type":       "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
		"stat_prefix": prefix, "cluster": "upstream",
	}}
}

func netScenarios(t *testing.T) []*netScenario {
	goTCP := wasmtest.Go(t, "tcp")
	wantData := func(want ...string) func(*testing.T, int, netResult) {
		return func(t *testing.T, i int, r netResult) {
			if r.Data != want[i] {
				t.Errorf("connection %d received %q, want %q", i, r.Data, want[i])
			}
		}
	}
	cTCP := wasmtest.C(t, "tcp", "")
	return []*netScenario{
		{name: "c-buffers", guest: cTCP, conns: []netExchange{{chunks: []string{"hello\n"}}, {chunks: []string{"par", "tial\n"}}, {chunks: []string{"cut:abc\n"}}},
			check: wantData("hello\n!", "partial\n!", "Cabc\n!")},
		{name: "c-close-upstream", guest: cTCP, conns: []netExchange{{chunks: []string{"bye\n"}, keepOpen: true}},
			check: func(t *testing.T, _ int, r netResult) {
				if r.End != "eof" {
					t.Errorf("proxy_close_stream(UPSTREAM) ended the connection with %q, want eof", r.End)
				}
			}},
		// A trap closes the connection (fail-closed) on both hosts; then V8's VM stays failed
		// and closes every connection, ours is replaced and serves the next one.
		{name: "c-trap", guest: cTCP, diffFirst: true, conns: []netExchange{{chunks: []string{"trap\n"}}, {chunks: []string{"hello\n"}}},
			check: wantData("", "hello\n!")},
		{name: "go-mtls", guest: goTCP, mtls: true, conns: []netExchange{{chunks: []string{"secret\n"}}},
			check: wantData("secret\n")},
		{name: "go-plain", guest: goTCP, conns: []netExchange{{chunks: []string{"hello\n"}}, {chunks: []string{"one\n", "two\n"}}},
			check: wantData("hello\n", "one\ntwo\n")},
		{name: "go-rewrite", guest: goTCP, config: "upper prefix", conns: []netExchange{{chunks: []string{"abc\n"}}},
			check: wantData("wasm:ABC\n")},
		{name: "go-hold", guest: goTCP, config: "hold", conns: []netExchange{{chunks: []string{"abc", "defgh\n"}}},
			check: wantData("abcdefgh\n")},
		{name: "go-close", guest: goTCP, config: "close-on-quit", conns: []netExchange{{chunks: []string{"quit\n"}, keepOpen: true}},
			check: func(t *testing.T, _ int, r netResult) {
				if r.End != "eof" {
					t.Errorf("the guest's close ended the connection with %q, want eof", r.End)
				}
			}},
	}
}

func TestEnvoy_NetworkDifferential(t *testing.T) {
	requireEnvoy(t)
	scs := netScenarios(t)
	up := tcpEcho(t)
	adminPort := freePort(t)
	pki := newNetPKI(t)
	type pair struct{ ours, v8 int }
	ports := map[*netScenario]pair{}
	var listeners []any
	for _, sc := range scs {
		pr := pair{freePort(t), freePort(t)}
		ports[sc] = pr
		name := "extensions.istio.io/trafficextension/ns." + sc.name
		ours := map[string]any{"filters": []any{ourNetworkFilter(t, name, sc.guest, sc.config), tcpProxy(sc.name + "_ours")}}
		v8 := map[string]any{"filters": []any{v8NetworkFilter(name, sc.guest, sc.config), tcpProxy(sc.name + "_v8")}}
		if sc.mtls {
			ours["transport_socket"], v8["transport_socket"] = pki.transportSocket(), pki.transportSocket()
			for i := range sc.conns {
				sc.conns[i].tls = pki.client
			}
		}
		listeners = append(listeners,
			map[string]any{"name": sc.name + "-ours", "address": addr(pr.ours), "filter_chains": []any{ours}},
			map[string]any{"name": sc.name + "-v8", "address": addr(pr.v8), "filter_chains": []any{v8}})
	}
	log := &syncBuffer{}
	releasePorts()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := envoyproc.Start(ctx, envoyproc.Options{Bootstrap: bootstrap(t, listeners, adminPort, up), AdminPort: adminPort,
		Concurrency: 2, LogLevel: "warning", ComponentLogLevel: "wasm:info,dynamic_modules:info", Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("envoy log:\n%s", log.String())
		}
		p.Stop()
	})
	stats := func() string {
		s, err := p.Admin("/stats?filter=tcptest")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, sc := range scs {
		t.Run(sc.name, func(t *testing.T) {
			pr := ports[sc]
			before := stats()
			for i, x := range sc.conns {
				ours := netDo(t, pr.ours, x)
				v8 := netDo(t, pr.v8, x)
				sc.check(t, i, ours)
				if sc.diffFirst && i > 0 {
					continue
				}
				if ours != v8 {
					t.Errorf("connection %d: our host %+v, V8 %+v", i, ours, v8)
				}
			}
			if sc.diffFirst {
				if !p.Alive() {
					t.Fatal("Envoy died")
				}
				return
			}
			short := "ns." + sc.name
			// The close callbacks run as the proxy finishes the connections.
			var ourLogs, v8Logs []string
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				if ourLogs, v8Logs = splitByHost(log.String(), short); countDone(ourLogs) >= len(sc.conns) && countDone(v8Logs) >= len(sc.conns) {
					break
				}
			}
			if strings.Join(ourLogs, "\n") != strings.Join(v8Logs, "\n") {
				t.Errorf("guest logs differ:\nours:\n  %s\nV8:\n  %s", strings.Join(ourLogs, "\n  "), strings.Join(v8Logs, "\n  "))
			}
			if len(ourLogs) == 0 {
				t.Errorf("no guest log lines")
			}
			after := stats()
			for _, m := range []string{"tcptest_connections_total", "tcptest_closed_total", "tcptest_downstream_bytes_total", "tcptest_upstream_bytes_total", "tcptest_active", "ctcp_connections_total", "ctcp_bytes_total"} {
				o := statValue(after, "dynamicmodulescustom."+m) - max(statValue(before, "dynamicmodulescustom."+m), 0)
				v := statValue(after, "wasmcustom."+m) - max(statValue(before, "wasmcustom."+m), 0)
				if o != v {
					t.Errorf("metric %s moved by %d on our host, %d on V8", m, o, v)
				}
			}
			t.Logf("guest log (ours = V8):\n  %s", strings.Join(ourLogs, "\n  "))
		})
	}
}

func countDone(lines []string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "connection done") || l == "delete" {
			n++
		}
	}
	return n
}

// splitByHost separates one plugin's guest lines into our host's (the dynamic_modules
// logger) and V8's (the wasm logger).
func splitByHost(log, plugin string) (ours, v8 []string) {
	for _, l := range strings.Split(log, "\n") {
		m := wasmLogLine.FindStringSubmatch(l)
		if m == nil || m[1] != plugin {
			continue
		}
		line := loopAddr.ReplaceAllString(m[4], "127.0.0.1:PORT")
		if strings.Contains(l, "[dynamic_modules]") {
			ours = append(ours, line)
		} else {
			v8 = append(v8, line)
		}
	}
	return ours, v8
}
