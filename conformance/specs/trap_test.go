//go:build conformance

package specs

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/trafficext/trafficext/engine/wasm/wasmtest"
)

var _ = Describe("A Proxy-Wasm guest that traps", Label("wasm", "failure", "local-only"), func() {
	eachMode(func(m mode) {
		It("fails that request by the fail strategy and serves the next one on a fresh VM", func() {
			localOnly()
			// The C fault guest: `x-fault: trap` executes `unreachable`; otherwise it answers
			// with x-vm-requests, the number of requests its VM instance has served.
			g := wasmtest.C(GinkgoTB(), "fault", "")
			module := fmt.Sprintf("    url: file://%s\n    sha256: %s\n", g.Path, g.SHA256)
			apply("trap.yaml",
				m.ext("trap-closed").withPhase("AUTHZ").withWasm(module+"    failStrategy: FAIL_CLOSE\n"),
			)
			Eventually(func() string { return get(m.target(), "/", nil).Header.Get("x-vm-requests") }).
				WithTimeout(within).ShouldNot(BeEmpty())

			r := get(m.target(), "/", map[string]string{"x-fault": "trap"})
			Expect(r.Status).To(BeNumerically(">=", 500), "a trap in a FAIL_CLOSE extension answers 5xx")
			Expect(r.Reached).To(BeFalse())
			Expect(m.proxy().Alive()).To(BeTrue())
			r = get(m.target(), "/", nil)
			Expect(r.Status).To(Equal(200))
			Expect(r.Reached).To(BeTrue())
			Expect(r.Header.Get("x-vm-requests")).NotTo(BeEmpty())

			apply("trap.yaml",
				m.ext("trap-open").withPhase("AUTHZ").withWasm(module+"    failStrategy: FAIL_OPEN\n"),
			)
			Eventually(func() bool { return serves(m.proxy(), m.ns, "trap-open") }).WithTimeout(within).Should(BeTrue())
			Eventually(func() string { return get(m.target(), "/", nil).Header.Get("x-vm-requests") }).
				WithTimeout(within).ShouldNot(BeEmpty())
			r = get(m.target(), "/", map[string]string{"x-fault": "trap"})
			Expect(r.Status).To(Equal(200), "a trap in a FAIL_OPEN extension lets the request through")
			Expect(r.Reached).To(BeTrue())
			r = get(m.target(), "/", nil)
			Expect(r.Status).To(Equal(200))
			Expect(r.Header.Get("x-vm-requests")).NotTo(BeEmpty())
		})
	})
})
