//go:build conformance

package specs

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Phase and priority ordering", Label("lua", "ordering"), func() {
	eachMode(func(m mode) {
		It("runs AUTHN, AUTHZ, STATS in order: the workload sees 123, the client 321", func() {
			apply("order.yaml",
				m.ext("stats-3").withPhase("STATS").withLua(appendScript("x-phase-order", "3")),
				m.ext("authn-1").withPhase("AUTHN").withLua(appendScript("x-phase-order", "1")),
				m.ext("authz-2").withPhase("AUTHZ").withLua(appendScript("x-phase-order", "2")),
			)
			var r response
			Eventually(func() string {
				r = get(m.target(), "/", nil)
				return r.Header.Get("x-phase-order")
			}).WithTimeout(within).Should(Equal("321"))
			Expect(r.Reached).To(BeTrue())
			Expect(r.Echo.Header("x-phase-order")).To(Equal("123"))
		})

		It("orders one phase by priority, higher first, unset after every set priority, ties by name", func() {
			apply("prio.yaml",
				m.ext("p-unset").withPhase("AUTHZ").withLua(appendScript("x-order", "u")),
				m.ext("p-minus1").withPhase("AUTHZ").withPriority(-1).withLua(appendScript("x-order", "m")),
				m.ext("p-10").withPhase("AUTHZ").withPriority(10).withLua(appendScript("x-order", "a")),
				m.ext("tie-b").withPhase("AUTHZ").withPriority(5).withLua(appendScript("x-order", "c")),
				m.ext("tie-a").withPhase("AUTHZ").withPriority(5).withLua(appendScript("x-order", "b")),
			)
			var r response
			Eventually(func() string {
				r = get(m.target(), "/", nil)
				return r.Header.Get("x-order")
			}).WithTimeout(within).Should(Equal("umcba"))
			Expect(r.Echo.Header("x-order")).To(Equal("abcmu"))
		})
	})
})
