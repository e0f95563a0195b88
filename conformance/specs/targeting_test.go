//go:build conformance

package specs

import (
	"fmt"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/trafficext/trafficext/conformance/driver"
)

// marks is a set of extensions each stamping its own request header; a spec applies them, waits
// for the one that must arrive, then reads which stamps every target received.
type marks struct{ exts []ext }

func (ms *marks) add(x ext) {
	ms.exts = append(ms.exts, x.withLua(requestHeaderScript("x-mark-"+x.name, "1")))
}

// seen lists the marks a target's workload received.
func (ms *marks) seen(t driver.Target) []string {
	r := get(t, "/", nil)
	if !r.Reached {
		return []string{fmt.Sprintf("<not reached: %d>", r.Status)}
	}
	out := []string{}
	for _, x := range ms.exts {
		if r.Echo.Header("x-mark-"+x.name) == "1" {
			out = append(out, x.name)
		}
	}
	return out
}

// expect applies the marks and checks, once the first target shows its marks, that every
// target shows exactly its own, for a while.
func (ms *marks) expect(want map[driver.Target][]string, order []driver.Target) {
	GinkgoHelper()
	apply("marks.yaml", ms.exts...)
	for _, t := range order {
		Eventually(ms.seen).WithArguments(t).WithTimeout(within).Should(ConsistOf(want[t]), "target %s", t.URL())
	}
	Consistently(func() map[string][]string {
		got := map[string][]string{}
		for _, t := range order {
			got[t.URL()] = ms.seen(t)
		}
		return got
	}).WithTimeout(300 * time.Millisecond).WithPolling(100 * time.Millisecond).Should(WithTransform(func(g map[string][]string) error {
		for _, t := range order {
			if fmt.Sprint(sorted(g[t.URL()])) != fmt.Sprint(sorted(want[t])) {
				return fmt.Errorf("%s saw %v, want %v", t.URL(), g[t.URL()], want[t])
			}
		}
		return nil
	}, Succeed()))
}

func sorted(s []string) []string {
	out := append([]string{}, s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func named(name, ns, attach string) ext { return ext{name: name, ns: ns, attach: attach} }

var _ = Describe("Selection on the ingress gateway", Label("gateway", "targeting", "lua"), func() {
	It("applies a matching selector or a Gateway targetRef of its own namespace, nothing else", func() {
		root, apps := driver.RootNamespace, driver.AppNamespace
		ms := &marks{}
		ms.add(named("sel-match", root, selectorYAML(map[string]string{"istio": "ingressgateway"})))
		ms.add(named("sel-miss", root, selectorYAML(map[string]string{"istio": "egressgateway"})))
		ms.add(named("no-selector", root, ""))
		ms.add(named("ref-gateway", root, targetRefYAML(gatewayGroup, "Gateway", driver.GatewayName)))
		ms.add(named("ref-other-gateway", root, targetRefYAML(gatewayGroup, "Gateway", "another")))
		ms.add(named("ref-from-apps", apps, targetRefYAML(gatewayGroup, "Gateway", driver.GatewayName)))
		ms.add(named("ref-class", root, targetRefYAML(gatewayGroup, "GatewayClass", driver.WaypointClass)))
		ms.add(named("ref-service", root, targetRefYAML("", "Service", "istio-ingressgateway")))
		gw := env.Gateway()
		ms.expect(map[driver.Target][]string{gw: {"sel-match", "no-selector", "ref-gateway"}}, []driver.Target{gw})
	})

	It("counts its listener as CLIENT for match modes", func() {
		root := driver.RootNamespace
		sel := selectorYAML(map[string]string{"istio": "ingressgateway"})
		ms := &marks{}
		ms.add(named("client", root, sel+matchYAML("CLIENT")))
		ms.add(named("server", root, sel+matchYAML("SERVER")))
		ms.add(named("client-and-server", root, sel+matchYAML("CLIENT_AND_SERVER")))
		ms.add(named("undefined", root, sel+matchYAML("UNDEFINED")))
		gw := env.Gateway()
		ms.expect(map[driver.Target][]string{gw: {"client", "client-and-server", "undefined"}}, []driver.Target{gw})
	})
})

var _ = Describe("Selection on the sidecar", Label("sidecar", "targeting", "lua"), func() {
	It("runs CLIENT extensions on the outbound listener and SERVER ones on the inbound listener", func() {
		sc := env.Sidecar()
		apps := driver.AppNamespace
		x := func(name, digit string, prio int, match string) ext {
			return named(name, apps, match).withPriority(prio).withLua(appendScript("x-trace", digit))
		}
		apply("trace.yaml",
			x("client", "c", 10, matchYAML("CLIENT")),
			x("server", "s", 10, matchYAML("SERVER")),
			x("both", "b", 1, ""),
		)
		// client → outbound [c, b] → inbound [s, b] → workload; the response unwinds.
		var r response
		Eventually(func() string {
			r = get(sc, "/", nil)
			if !r.Reached {
				return ""
			}
			return r.Echo.Header("x-trace")
		}).WithTimeout(within).Should(Equal("cbsb"))
		Expect(r.Header.Get("x-trace")).To(Equal("bsbc"))
		// Traffic from a peer meets the inbound listener alone.
		Expect(echoed(sc.Inbound(), "x-trace", nil)).To(Equal("sb"))
	})

	It("compares outbound match ports with the service port and inbound ones with the target port", func() {
		sc := env.Sidecar()
		apps := driver.AppNamespace
		ms := &marks{}
		ms.add(named("client-service-port", apps, matchYAML("CLIENT", sc.ServicePort())))
		ms.add(named("client-target-port", apps, matchYAML("CLIENT", sc.TargetPort())))
		ms.add(named("server-target-port", apps, matchYAML("SERVER", sc.TargetPort())))
		ms.add(named("server-service-port", apps, matchYAML("SERVER", sc.ServicePort())))
		ms.add(named("any-listed-port", apps, matchYAML("CLIENT_AND_SERVER", 1, sc.TargetPort())))
		in := sc.Inbound()
		ms.expect(map[driver.Target][]string{
			sc: {"client-service-port", "server-target-port", "any-listed-port"},
			in: {"server-target-port", "any-listed-port"},
		}, []driver.Target{sc, in})
	})

	It("scopes by namespace: own namespace for workload selectors, every namespace from the root; targetRefs never apply", func() {
		sc, other, gw := env.Sidecar(), env.OtherSidecar(), env.Gateway()
		apps, root, oth := driver.AppNamespace, driver.RootNamespace, driver.OtherNamespace
		server := matchYAML("SERVER")
		echoSel := selectorYAML(map[string]string{"app": "echo"})
		ms := &marks{}
		ms.add(named("apps-wide", apps, server))
		ms.add(named("apps-echo", apps, echoSel+server))
		ms.add(named("apps-v2", apps, selectorYAML(map[string]string{"app": "echo", "version": "v2"})+server))
		ms.add(named("other-echo", oth, echoSel+server))
		ms.add(named("root-echo", root, echoSel+server))
		ms.add(named("root-wide", root, ""))
		ms.add(named("apps-ref-service", apps, targetRefYAML("", "Service", "echo")))
		ms.add(named("apps-ref-gateway", apps, targetRefYAML(gatewayGroup, "Gateway", driver.WaypointName)))
		ms.expect(map[driver.Target][]string{
			sc:    {"apps-wide", "apps-echo", "root-echo", "root-wide"},
			other: {"other-echo", "root-echo", "root-wide"},
			gw:    {"root-wide"},
		}, []driver.Target{sc, other, gw})
	})
})

var _ = Describe("Selection on the waypoint", Label("waypoint", "targeting", "lua"), func() {
	It("applies a Service targetRef to that service's traffic only", func() {
		wp := env.Waypoint()
		a, b := wp.Service(driver.ServiceA), wp.Service(driver.ServiceB)
		apps := driver.AppNamespace
		ms := &marks{}
		ms.add(named("svc-a", apps, targetRefYAML("", "Service", driver.ServiceA)))
		ms.add(named("svc-a-core", apps, targetRefYAML("core", "Service", driver.ServiceA)))
		ms.add(named("svc-b", apps, targetRefYAML("", "Service", driver.ServiceB)))
		ms.add(named("svc-unbound", apps, targetRefYAML("", "Service", "echo")))
		ms.add(named("svc-a-elsewhere", driver.OtherNamespace, targetRefYAML("", "Service", driver.ServiceA)))
		ms.expect(map[driver.Target][]string{
			a: {"svc-a", "svc-a-core"},
			b: {"svc-b"},
		}, []driver.Target{a, b})
	})

	It("applies a ServiceEntry targetRef to a bound ServiceEntry only, and a Service targetRef to Kubernetes Services only", func() {
		wp := env.Waypoint()
		apps := driver.AppNamespace
		if !slices.Contains(wp.Services(), apps+"/"+driver.ServiceEntryC) {
			Skip("this driver's waypoint serves no ServiceEntry")
		}
		a, se := wp.Service(driver.ServiceA), wp.Service(driver.ServiceEntryC)
		ms := &marks{}
		ms.add(named("se-c", apps, targetRefYAML("networking.istio.io", "ServiceEntry", driver.ServiceEntryC)))
		ms.add(named("svc-named-se-c", apps, targetRefYAML("", "Service", driver.ServiceEntryC)))
		ms.add(named("se-named-svc-a", apps, targetRefYAML("networking.istio.io", "ServiceEntry", driver.ServiceA)))
		ms.add(named("svc-a", apps, targetRefYAML("", "Service", driver.ServiceA)))
		ms.expect(map[driver.Target][]string{
			a:  {"svc-a"},
			se: {"se-c"},
		}, []driver.Target{a, se})
	})

	It("applies its Gateway and the istio-waypoint GatewayClass (root namespace) to every service and ignores selectors", func() {
		wp := env.Waypoint()
		a, b := wp.Service(driver.ServiceA), wp.Service(driver.ServiceB)
		apps, root := driver.AppNamespace, driver.RootNamespace
		ms := &marks{}
		ms.add(named("ref-waypoint", apps, targetRefYAML(gatewayGroup, "Gateway", driver.WaypointName)))
		ms.add(named("ref-class-root", root, targetRefYAML(gatewayGroup, "GatewayClass", driver.WaypointClass)))
		ms.add(named("ref-class-apps", apps, targetRefYAML(gatewayGroup, "GatewayClass", driver.WaypointClass)))
		ms.add(named("ref-other-gateway", apps, targetRefYAML(gatewayGroup, "Gateway", driver.GatewayName)))
		ms.add(named("apps-wide", apps, ""))
		ms.add(named("root-wide", root, ""))
		ms.add(named("sel-waypoint", apps, selectorYAML(driver.WaypointLabels)))
		ms.expect(map[driver.Target][]string{
			a: {"ref-waypoint", "ref-class-root"},
			b: {"ref-waypoint", "ref-class-root"},
		}, []driver.Target{a, b})
	})

	It("counts as SERVER for match modes, and a match listing ports never applies", func() {
		wp := env.Waypoint()
		a := wp.Service(driver.ServiceA)
		apps := driver.AppNamespace
		ref := targetRefYAML(gatewayGroup, "Gateway", driver.WaypointName)
		ms := &marks{}
		ms.add(named("server", apps, ref+matchYAML("SERVER")))
		ms.add(named("client", apps, ref+matchYAML("CLIENT")))
		ms.add(named("server-port-80", apps, ref+matchYAML("SERVER", 80)))
		ms.add(named("undefined", apps, ref+matchYAML("UNDEFINED")))
		ms.expect(map[driver.Target][]string{a: {"server", "undefined"}}, []driver.Target{a})
	})
})

var _ = Describe("Isolation between proxies", Label("sidecar", "gateway", "waypoint", "targeting", "lua"), func() {
	It("never puts an extension selected for one workload into another proxy's chain", func() {
		sc := env.Sidecar()
		x := named("only-apps-echo", driver.AppNamespace, selectorYAML(map[string]string{"app": "echo"})).
			withLua(requestHeaderScript("x-only", "apps-echo"))
		apply("only.yaml", x)
		Eventually(echoed).WithArguments(sc, "x-only", noHeaders).WithTimeout(within).Should(Equal("apps-echo"))
		Expect(inChain(sc, x.ns, x.name)).To(BeTrue())
		for _, p := range []driver.Proxy{env.OtherSidecar(), env.Gateway(), env.Waypoint()} {
			dump, err := p.ConfigDump()
			Expect(err).NotTo(HaveOccurred())
			Expect(dump).NotTo(ContainSubstring("trafficextension/"+x.ns+"."+x.name), "proxy %s", p.Name())
		}
		Expect(echoed(env.OtherSidecar(), "x-only", nil)).To(BeEmpty())
		Expect(echoed(env.Gateway(), "x-only", nil)).To(BeEmpty())
		Expect(echoed(env.Waypoint().Service(driver.ServiceA), "x-only", nil)).To(BeEmpty())
	})
})
