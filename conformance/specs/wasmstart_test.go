//go:build conformance

package specs

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/trafficext/trafficext/conformance/driver"
	"github.com/trafficext/trafficext/engine/wasm/startcheck"
	"github.com/trafficext/trafficext/engine/wasm/wasmtest"
	"github.com/trafficext/trafficext/internal/echo"
	"github.com/trafficext/trafficext/internal/envoyproc"
	"github.com/trafficext/trafficext/internal/loopback"
	"github.com/trafficext/trafficext/xds"
	"github.com/trafficext/trafficext/xds/fetch"
	"github.com/trafficext/trafficext/xds/proxyid"
	"github.com/trafficext/trafficext/xds/server"
	"github.com/trafficext/trafficext/xds/translate"
)

// startCase is a module that passes the fetch check (`\0asm`) but does not start: the C guest
// "start" picks its failure by root id; the others are other modules.
type startCase struct {
	name   string
	module func() wasmtest.Guest
	root   string
	reason string // what the control plane's status says
}

// startCases builds the guests (clang) once per spec.
func startCases() []startCase {
	g := wasmtest.C(GinkgoTB(), "start", "")
	bad := wasmtest.C(GinkgoTB(), "badimport", "")
	b, err := os.ReadFile(g.Path)
	Expect(err).NotTo(HaveOccurred())
	truncated := filepath.Join(GinkgoT().TempDir(), "truncated.wasm")
	Expect(os.WriteFile(truncated, b[:len(b)/2], 0o644)).To(Succeed())
	same := func(x wasmtest.Guest) func() wasmtest.Guest { return func() wasmtest.Guest { return x } }
	return []startCase{
		{"trap-in-vm-start", same(g), "trap-in-vm-start", "proxy_on_vm_start: wasm error: unreachable"},
		{"trap-in-configure", same(g), "trap-in-configure", "proxy_on_configure: wasm error: unreachable"},
		{"unknown-import", same(bad), "ok", "imports unknown function env.trafficext_no_such_function"},
		{"truncated", same(wasmtest.Guest{Path: truncated}), "ok", "malformed module"},
	}
}

func startWasm(c startCase, fail string) string {
	return fmt.Sprintf("    url: file://%s\n    pluginName: %s\n    failStrategy: %s\n", c.module().Path, c.root, fail)
}

var _ = Describe("A Proxy-Wasm module that does not start", Label("wasm", "failure", "local-only", "gateway"), func() {
	// The shared environment's control plane does not check starts, as a control plane that
	// missed it (or a proxy that differs): the proxy itself applies the fail strategy.
	Context("reaching the proxy", func() {
		It("passes every request (FAIL_OPEN) or answers 403 (FAIL_CLOSE) instead of 500, and counts it", func() {
			localOnly()
			m := gatewayMode
			for _, c := range startCases() {
				By(c.name + " FAIL_OPEN")
				open := m.ext("open-" + c.name).withPhase("AUTHZ").withWasm(startWasm(c, "FAIL_OPEN"))
				apply("start.yaml", open)
				Eventually(func() bool { return serves(m.proxy(), m.ns, open.name) }).WithTimeout(within).Should(BeTrue())
				Eventually(func() (int64, error) {
					get(m.target(), "/", nil)
					return m.proxy().Stat(statName(open, "start_failed"))
				}).WithTimeout(within).Should(BeNumerically(">", 0))
				r := get(m.target(), "/", nil)
				Expect(r.Status).To(Equal(200), r.Body)
				Expect(r.Reached).To(BeTrue())
				Expect(m.proxy().Stat(statName(open, "fail_open"))).To(BeNumerically(">", 0))

				By(c.name + " FAIL_CLOSE")
				closed := m.ext("closed-" + c.name).withPhase("AUTHZ").withWasm(startWasm(c, "FAIL_CLOSE"))
				apply("start.yaml", closed)
				Eventually(func() int { return get(m.target(), "/", nil).Status }).WithTimeout(within).Should(Equal(403))
				r = get(m.target(), "/", nil)
				Expect(r.Body).To(BeEmpty())
				Expect(r.Reached).To(BeFalse())
				Expect(m.proxy().Stat(statName(closed, "start_failed"))).To(BeNumerically(">", 0))
				Expect(m.proxy().Stat(statName(closed, "denied"))).To(BeNumerically(">", 0))
				Expect(m.proxy().Alive()).To(BeTrue())
				Expect(m.proxy().Log()).To(ContainSubstring("the Wasm VM does not start"))
			}
		})

		It("keeps the last good version serving when a new one does not start", func() {
			localOnly()
			m := gatewayMode
			g := wasmtest.C(GinkgoTB(), "start", "")
			module := fmt.Sprintf("    url: file://%s\n    failStrategy: FAIL_CLOSE\n", g.Path)
			apply("start.yaml", m.ext("lastgood").withPhase("AUTHZ").withWasm(module+"    pluginName: v1\n"))
			Eventually(func() string { return get(m.target(), "/", nil).Header.Get("x-start-guest") }).WithTimeout(within).Should(Equal("v1"))
			apply("start.yaml", m.ext("lastgood").withPhase("AUTHZ").withWasm(module+"    pluginName: trap-in-configure\n"))
			Consistently(func() string { return get(m.target(), "/", nil).Header.Get("x-start-guest") }).
				WithTimeout(3 * time.Second).Should(Equal("v1"))
			apply("start.yaml", m.ext("lastgood").withPhase("AUTHZ").withWasm(module+"    pluginName: v3\n"))
			Eventually(func() string { return get(m.target(), "/", nil).Header.Get("x-start-guest") }).WithTimeout(within).Should(Equal("v3"))
		})

		It("bounds a start that loops by the runaway bound, not Envoy's 60 s", func() {
			localOnly()
			m := gatewayMode
			g := wasmtest.C(GinkgoTB(), "start", "")
			loop := startCase{"loop", func() wasmtest.Guest { return g }, "loop-in-vm-start", ""}
			apply("start.yaml", m.ext("loop").withPhase("AUTHZ").withWasm(startWasm(loop, "FAIL_CLOSE")))
			began := time.Now()
			var slowest time.Duration
			Eventually(func() int {
				t := time.Now()
				_, err := m.proxy().ConfigDump() // the admin handler runs on Envoy's main thread
				slowest = max(slowest, time.Since(t))
				Expect(err).NotTo(HaveOccurred())
				return get(m.target(), "/", nil).Status
			}).WithTimeout(30 * time.Second).Should(Equal(403))
			GinkgoWriter.Printf("looping start: 403 after %v; slowest admin answer %v\n", time.Since(began), slowest)
			Expect(slowest).To(BeNumerically("<", 15*time.Second))
		})
	})

	// A control plane of its own, checking starts as `trafficext run` and `xds` do, with its
	// status endpoint (what `trafficext status` prints) and one gateway Envoy.
	Context("checked by the control plane", Ordered, func() {
		var (
			dir, listen, statusAddr string
			proxy                   *envoyproc.Process
			client                  = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		)
		const ns = driver.RootNamespace
		attach := selectorYAML(map[string]string{"istio": "ingressgateway"})
		x := func(name string) ext { return ext{name: name, ns: ns, attach: attach, phase: "AUTHZ"} }
		write := func(file string, xs ...ext) {
			GinkgoHelper()
			tmp := filepath.Join(dir, "."+file+".tmp")
			Expect(os.WriteFile(tmp, docs(xs...), 0o644)).To(Succeed())
			Expect(os.Rename(tmp, filepath.Join(dir, file))).To(Succeed())
		}
		send := func() response {
			resp, err := client.Get("http://" + listen + "/")
			if err != nil {
				return response{Err: err, Header: http.Header{}}
			}
			defer resp.Body.Close()
			return readResponse(resp)
		}
		status := func(name string) server.ExtensionReport {
			rep, err := server.FetchReport(context.Background(), statusAddr)
			Expect(err).NotTo(HaveOccurred())
			Expect(rep.NACKs).To(BeEmpty(), "the proxy rejected nothing: no module that cannot start reached it")
			for _, e := range rep.Extensions {
				if e.Name == ns+"/"+name {
					return e
				}
			}
			return server.ExtensionReport{}
		}

		BeforeAll(func() {
			localOnly()
			dir = GinkgoT().TempDir()
			up, err := echo.Start("127.0.0.1:0", "start-upstream")
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(up.Close)
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			Expect(err).NotTo(HaveOccurred())
			port, err := loopback.FreePort()
			Expect(err).NotTo(HaveOccurred())
			listen = fmt.Sprintf("127.0.0.1:%d", port)
			port, err = loopback.FreePort()
			Expect(err).NotTo(HaveOccurred())
			statusAddr = fmt.Sprintf("127.0.0.1:%d", port)
			cp, err := xds.New(xds.Options{
				Dir: dir, StatusAddress: statusAddr,
				Translate: translate.Options{ListenerAddress: listen, Upstream: up.Addr(), CalloutGateway: translate.NoCalloutGateway},
				Logger:    slog.New(slog.NewTextHandler(GinkgoWriter, nil)),
				Wasm: xds.WasmOptions{
					Fetch: fetch.Options{CacheDir: GinkgoT().TempDir()},
					// The looping case shows that a pending check holds up no other change:
					// a short wait for new modules, a check bound longer than it.
					Resolver: fetch.ResolverOptions{SyncWait: time.Second,
						StartChecker: startcheck.New(startcheck.Options{Timeout: 4 * time.Second})},
				},
			})
			Expect(err).NotTo(HaveOccurred())
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- cp.Serve(ctx, lis) }()
			DeferCleanup(func() { cancel(); <-done })
			Eventually(cp.Ready()).WithTimeout(10 * time.Second).Should(BeClosed())

			adminPort, err := loopback.FreePort()
			Expect(err).NotTo(HaveOccurred())
			id := proxyid.Identity{ID: "start-check-gateway", Cluster: "istio-ingressgateway", Mode: proxyid.Gateway,
				Namespace: ns, Labels: driver.GatewayLabels, GatewayName: driver.GatewayName}
			boot, err := envoyproc.ADSBootstrap(id, lis.Addr().String(), adminPort)
			Expect(err).NotTo(HaveOccurred())
			proxy, err = envoyproc.Start(context.Background(), envoyproc.Options{Bootstrap: boot, AdminPort: adminPort,
				Log: GinkgoWriter, LogLevel: "warning", ComponentLogLevel: "dynamic_modules:info"})
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(proxy.Stop)
			Eventually(func() int { return send().Status }).WithTimeout(15 * time.Second).Should(Equal(200))
		})

		AfterEach(func() {
			entries, _ := os.ReadDir(dir)
			for _, f := range entries {
				os.Remove(filepath.Join(dir, f.Name()))
			}
			Eventually(func() int { return send().Status }).WithTimeout(within).Should(Equal(200))
		})

		It("rejects the module in status, naming resource and field, and applies the fail strategy", func() {
			for _, c := range startCases() {
				for _, fail := range []string{"FAIL_OPEN", "FAIL_CLOSE"} {
					By(c.name + " " + fail)
					name := strings.ToLower(strings.ReplaceAll(fail, "_", "-")) + "-" + c.name
					write("start.yaml", x(name).withWasm(startWasm(c, fail)))
					want := fmt.Sprintf("%s/%s: spec.wasm.url: module does not start: ", ns, name)
					Eventually(func() []string { return status(name).Errors }).WithTimeout(within).
						Should(ContainElement(And(ContainSubstring(want), ContainSubstring(c.reason), ContainSubstring("failStrategy "+fail+" applies"))))
					rep := status(name)
					Expect(rep.State).To(Equal(server.StateRejected))
					r := send()
					if fail == "FAIL_OPEN" {
						Expect(rep.Module).To(BeNil(), "left out of the chain")
						Eventually(func() int { return send().Status }).WithTimeout(within).Should(Equal(200))
						r = send()
						Expect(r.Reached).To(BeTrue())
					} else {
						Expect(rep.Module).NotTo(BeNil())
						Expect(rep.Module.Deny).To(HavePrefix("403"))
						Eventually(func() int { return send().Status }).WithTimeout(within).Should(Equal(403))
						r = send()
						Expect(r.Body).To(BeEmpty())
						Expect(r.Reached).To(BeFalse())
					}
				}
			}
			Expect(proxy.Alive()).To(BeTrue())
		})

		It("keeps the last good version serving when a new one does not start", func() {
			g := wasmtest.C(GinkgoTB(), "start", "")
			module := fmt.Sprintf("    url: file://%s\n    failStrategy: FAIL_CLOSE\n", g.Path)
			write("lastgood.yaml", x("lastgood").withWasm(module+"    pluginName: v1\n"))
			Eventually(func() string { return send().Header.Get("x-start-guest") }).WithTimeout(within).Should(Equal("v1"))
			write("lastgood.yaml", x("lastgood").withWasm(module+"    pluginName: trap-in-configure\n"))
			Eventually(func() string { return status("lastgood").State }).WithTimeout(within).Should(Equal(server.StateStale))
			Expect(status("lastgood").Errors).To(ContainElement(And(
				ContainSubstring(ns+"/lastgood: spec.wasm.url: module does not start: proxy_on_configure: wasm error: unreachable"),
				ContainSubstring("the previous version keeps serving module sha256 "+g.SHA256))))
			Consistently(func() string { return send().Header.Get("x-start-guest") }).WithTimeout(2 * time.Second).Should(Equal("v1"))
		})

		It("serves other extensions' updates and keeps Envoy ready while a looping start is checked", func() {
			g := wasmtest.C(GinkgoTB(), "start", "")
			write("marker.yaml", x("marker").withPhase("STATS").withLua(responseHeaderScript("x-marker", "one")))
			Eventually(func() string { return send().Header.Get("x-marker") }).WithTimeout(within).Should(Equal("one"))

			loop := startCase{"loop", func() wasmtest.Guest { return g }, "loop-in-vm-start", ""}
			write("loop.yaml", x("loop").withWasm(startWasm(loop, "FAIL_OPEN")))
			began := time.Now()
			time.Sleep(100 * time.Millisecond) // the source sees loop.yaml first
			write("marker.yaml", x("marker").withPhase("STATS").withLua(responseHeaderScript("x-marker", "two")))
			var slowest time.Duration
			Eventually(func() string {
				t := time.Now()
				body, err := proxy.Admin("/ready")
				slowest = max(slowest, time.Since(t))
				Expect(err).NotTo(HaveOccurred())
				Expect(body).To(ContainSubstring("LIVE"))
				return send().Header.Get("x-marker")
			}).WithTimeout(within).WithPolling(50 * time.Millisecond).Should(Equal("two"))
			updated := time.Since(began)
			Eventually(func() []string { return status("loop").Errors }).WithTimeout(within).
				Should(ContainElement(ContainSubstring("module does not start: proxy_on_vm_start did not return within the start bound")))
			checked := time.Since(began)
			GinkgoWriter.Printf("looping start: other update served after %v, check done after %v, slowest /ready %v\n", updated, checked, slowest)
			Expect(updated).To(BeNumerically("<", checked), "the other update waited for the check")
			Expect(slowest).To(BeNumerically("<", time.Second))
			Expect(send().Status).To(Equal(200))
		})
	})
})
