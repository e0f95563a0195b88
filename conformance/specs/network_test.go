//go:build conformance

package specs

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/trafficext/trafficext/conformance/driver"
	"github.com/trafficext/trafficext/engine/wasm/wasmtest"
	"github.com/trafficext/trafficext/xds/translate"
)

// Network (L4) extensions on raw-TCP proxies of each shape, in front of a TCP echo: the Go
// SDK TCP guest (engine/wasm/testdata/guests/go/tcp) rewrites bytes by its configuration.

// tcpProxy is the raw-TCP proxy of a mode (started by the driver on first use).
func tcpProxy(m mode) driver.TCPProxy {
	GinkgoHelper()
	te, ok := env.(driver.TCPEnv)
	if !ok {
		Skip("the driver runs no raw-TCP proxies")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := te.TCP(ctx, m.name)
	Expect(err).NotTo(HaveOccurred())
	return p
}

// tcpConn is one client connection through a raw-TCP proxy.
type tcpConn struct{ c net.Conn }

func dialTCP(p driver.TCPProxy) *tcpConn {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := p.DialTCP(ctx)
	Expect(err).NotTo(HaveOccurred())
	return &tcpConn{c}
}

// roundTrip sends data and reads back n bytes (or what arrives before the proxy closes or a
// second passes).
func (t *tcpConn) roundTrip(data string, n int) string {
	// The deadline is lifted at once: on the waypoint it is the TLS connection's, which an
	// expired one would end (with every tunnel in it).
	t.c.SetDeadline(time.Now().Add(time.Second))
	defer t.c.SetDeadline(time.Time{})
	if _, err := io.WriteString(t.c, data); err != nil {
		return "write: " + err.Error()
	}
	b := make([]byte, n)
	got, _ := io.ReadFull(t.c, b)
	return string(b[:got])
}

func (t *tcpConn) close() { t.c.Close() }

// exchange is one connection sending data and reading the n bytes expected back; a failed
// dial is its result (while a listener warms, a waypoint answers CONNECT 503), so that
// Eventually retries it.
func exchange(p driver.TCPProxy, data string, n int) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := p.DialTCP(ctx)
	if err != nil {
		return "dial: " + err.Error()
	}
	t := &tcpConn{c}
	defer t.close()
	return t.roundTrip(data, n)
}

func networkExt(m mode, name, words string) ext {
	g := wasmtest.Go(GinkgoTB(), "tcp")
	return m.ext(name).withWasm(fmt.Sprintf("    url: file://%s\n    sha256: %s\n    type: NETWORK\n    pluginConfig:\n      mode: %q\n", g.Path, g.SHA256, words))
}

var _ = Describe("Network (L4) Wasm extensions", Label("wasm", "network", "local-only"), func() {
	BeforeEach(localOnly)
	// The golang filter is an HTTP filter only: a golang-bound proxy has no network filter to
	// host these (the control plane leaves NETWORK extensions out and reports it).
	BeforeEach(func() {
		if translate.Binding(*binding) == translate.Golang {
			Skip("impossible with -binding golang: the golang filter has no network (L4) filter")
		}
	})
	eachMode(func(m mode) {
		It("see and modify the bytes of a TCP connection, each direction", func() {
			p := tcpProxy(m)
			Expect(exchange(p, "abc\n", 4)).To(Equal("abc\n"))
			before, _ := p.Stat("dynamicmodulescustom.tcptest_connections_total")
			apply("tcp.yaml", networkExt(m, "tcp-rewrite", "upper prefix"))
			Eventually(exchange).WithArguments(p, "abc\n", 9).WithTimeout(within).Should(Equal("wasm:ABC\n"))
			Expect(p.Stat("dynamicmodulescustom.tcptest_connections_total")).To(BeNumerically(">", before))
			Expect(p.Stat("dynamicmodulescustom.tcptest_downstream_bytes_total")).To(BeNumerically(">=", 4))
		})

		It("run before the HTTP connection manager on HTTP listeners, which keep serving", func() {
			p := m.proxy()
			before, _ := p.Stat("dynamicmodulescustom.tcptest_connections_total")
			apply("tcp.yaml", networkExt(m, "tcp-count", "count"))
			Eventually(func() int64 {
				get(m.target(), "/", nil)
				n, _ := p.Stat("dynamicmodulescustom.tcptest_connections_total")
				return n
			}).WithTimeout(within).Should(BeNumerically(">", before))
			Expect(get(m.target(), "/", nil).Status).To(Equal(200))
			dump, err := p.ConfigDump()
			Expect(err).NotTo(HaveOccurred())
			Expect(filterChainsWith(dump, "extensions.istio.io/trafficextension/"+m.ns+".tcp-count")).To(
				ContainElement([]string{"extensions.istio.io/trafficextension/" + m.ns + ".tcp-count", "envoy.filters.network.http_connection_manager"}))
		})

		It("updates over ECDS only: open connections keep their configuration and are not drained", func() {
			p := tcpProxy(m)
			apply("tcp.yaml", networkExt(m, "tcp-live", "upper"))
			Eventually(exchange).WithArguments(p, "abc\n", 4).WithTimeout(within).Should(Equal("ABC\n"))
			Eventually(func() int64 {
				n, _ := p.Stat("listener_manager.total_listeners_warming")
				return n
			}).WithTimeout(within).Should(BeZero())
			live := dialTCP(p)
			defer live.close()
			Expect(live.roundTrip("one\n", 4)).To(Equal("ONE\n"))
			modified, err := p.Stat("listener_manager.listener_modified")
			Expect(err).NotTo(HaveOccurred())
			ecds, _ := p.Stat("extension_config_discovery.network_filter." + "extensions.istio.io/trafficextension/" + m.ns + ".tcp-live.config_reload")

			apply("tcp.yaml", networkExt(m, "tcp-live", "prefix"))
			Eventually(exchange).WithArguments(p, "abc\n", 9).WithTimeout(within).Should(Equal("wasm:abc\n"))
			// A network filter instance lives as long as its connection: the open one keeps the
			// configuration it started with, and still flows.
			Expect(live.roundTrip("two\n", 4)).To(Equal("TWO\n"))
			Expect(p.Stat("listener_manager.listener_modified")).To(Equal(modified))
			Expect(p.Stat("listener_manager.total_filter_chains_draining")).To(BeZero())
			reloads, _ := p.Stat("extension_config_discovery.network_filter." + "extensions.istio.io/trafficextension/" + m.ns + ".tcp-live.config_reload")
			GinkgoWriter.Printf("%s: ECDS reloads %d → %d, listener_modified %d\n", m.name, ecds, reloads, modified)
			Expect(reloads).To(BeNumerically(">", ecds))
		})

		It("contain a Go panic in the extension: the connection is closed (fail-closed), Envoy and the next connection are fine", func() {
			p := tcpProxy(m)
			x := networkExt(m, "tcp-panic", "upper")
			apply("tcp.yaml", x)
			Eventually(exchange).WithArguments(p, "abc\n", 4).WithTimeout(within).Should(Equal("ABC\n"))
			before, _ := p.Stat("dynamicmodulescustom.trafficext." + m.ns + ".tcp-panic.panic")
			// The fault injection of every conformance proxy: read data naming the extension.
			Expect(exchange(p, panicHeader+": "+m.ns+".tcp-panic\n", 1)).To(BeEmpty())
			Expect(p.Stat("dynamicmodulescustom.trafficext." + m.ns + ".tcp-panic.panic")).To(BeNumerically(">", before))
			Expect(exchange(p, "abc\n", 4)).To(Equal("ABC\n"))
		})

		It("refuses a bad NETWORK resource naming resource and field, and the last good keeps serving", func() {
			p := tcpProxy(m)
			apply("tcp.yaml", networkExt(m, "tcp-good", "upper"))
			Eventually(exchange).WithArguments(p, "abc\n", 4).WithTimeout(within).Should(Equal("ABC\n"))
			bad := networkExt(m, "tcp-good", "prefix")
			bad.wasm = strings.Replace(bad.wasm, "    sha256: ", "    sha256: x", 1)
			apply("tcp.yaml", bad)
			Eventually(func() string { return strings.Join(env.Problems(), "\n") }).WithTimeout(within).
				Should(And(ContainSubstring(m.ns+"/tcp-good"), ContainSubstring("spec.wasm.sha256")))
			Consistently(exchange).WithArguments(p, "abc\n", 4).WithTimeout(time.Second).Should(Equal("ABC\n"))
		})
	})
})

// filterChainsWith lists the network filter names of every filter chain in a config dump that
// holds a filter named name.
func filterChainsWith(dump, name string) [][]string {
	var root any
	Expect(json.Unmarshal([]byte(dump), &root)).To(Succeed())
	var out [][]string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if fs, ok := x["filters"].([]any); ok {
				var names []string
				for _, f := range fs {
					if m, ok := f.(map[string]any); ok {
						n, _ := m["name"].(string)
						names = append(names, n)
					}
				}
				if slices.Contains(names, name) {
					out = append(out, names)
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(root)
	return out
}
