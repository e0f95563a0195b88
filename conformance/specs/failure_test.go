//go:build conformance

package specs

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// statName is the per-extension counter the filter defines (Envoy prefixes custom stats of
// dynamic modules with dynamicmodulescustom).
func statName(x ext, counter string) string {
	return "dynamicmodulescustom.trafficext." + x.ns + "." + x.name + "." + counter
}

var _ = Describe("Failure handling", Label("failure"), func() {
	eachMode(func(m mode) {
		It("answers 500 for a fail-closed extension that panics, passes a fail-open one, and recovers on the next request", Label("lua"), func() {
			p := m.proxy()
			script := responseHeaderScript("x-ran", "yes")
			closed := m.ext("closed").withPhase("AUTHZ").withLua(script)
			open := m.ext("open").withPhase("AUTHN").withLua(script).failOpen()
			apply("panic.yaml", closed, open)
			Eventually(func() string { return get(m.target(), "/", nil).Header.Get("x-ran") }).
				WithTimeout(within).Should(Equal("yes"))
			before, _ := p.Stat(statName(closed, "panic"))

			r := get(m.target(), "/", closed.panicValue())
			Expect(r.Status).To(Equal(500))
			Expect(r.Body).To(ContainSubstring("trafficext: extension extensions.istio.io/trafficextension/" + m.ns + ".closed failed"))
			Expect(r.Reached).To(BeFalse())
			Expect(p.Stat(statName(closed, "panic"))).To(Equal(before + 1))

			r = get(m.target(), "/", open.panicValue())
			Expect(r.Status).To(Equal(200))
			Expect(r.Reached).To(BeTrue())
			Expect(p.Stat(statName(open, "fail_open"))).To(BeNumerically(">=", 1))

			// The next request runs both extensions again.
			Expect(p.Alive()).To(BeTrue())
			r = get(m.target(), "/", nil)
			Expect(r.Status).To(Equal(200))
			Expect(r.Header.Get("x-ran")).To(Equal("yes"))
		})

		It("lets the request through when a Lua script raises an error, as Envoy's Lua filter does", Label("lua"), func() {
			apply("raise.yaml",
				m.ext("raises").withPhase("AUTHN").withLua(`function envoy_on_request(handle)
  if handle:headers():get("x-raise") then
    error("boom")
  end
end
`),
				m.ext("after").withPhase("STATS").withLua(requestHeaderScript("x-after", "ran")),
			)
			Eventually(echoed).WithArguments(m.target(), "x-after", noHeaders).WithTimeout(within).Should(Equal("ran"))
			r := get(m.target(), "/", map[string]string{"x-raise": "1"})
			Expect(r.Status).To(Equal(200))
			Expect(r.Reached).To(BeTrue())
			Expect(r.Echo.Header("x-after")).To(Equal("ran"))
		})

		It("denies with 403 when a FAIL_CLOSE Wasm module cannot be had, and skips a FAIL_OPEN one", Label("wasm"), func() {
			missing := "    url: file:///nonexistent/trafficext-conformance.wasm\n"
			closed := m.ext("wasm-closed").withWasm(missing + "    failStrategy: FAIL_CLOSE\n")
			open := m.ext("wasm-open").withWasm(missing + "    failStrategy: FAIL_OPEN\n")
			marker := m.ext("marker").withPhase("STATS").withLua(responseHeaderScript("x-marker", "on"))

			apply("wasm-open.yaml", open, marker)
			var r response
			Eventually(func() string {
				r = get(m.target(), "/", nil)
				return r.Header.Get("x-marker")
			}).WithTimeout(within).Should(Equal("on"))
			Expect(r.Status).To(Equal(200))
			Expect(r.Reached).To(BeTrue())
			Expect(inChain(m.proxy(), m.ns, "wasm-open")).To(BeFalse())

			apply("wasm-closed.yaml", closed)
			Eventually(func() int { return get(m.target(), "/", nil).Status }).WithTimeout(within).Should(Equal(403))
			r = get(m.target(), "/", nil)
			Expect(r.Reached).To(BeFalse())
			Expect(m.proxy().Stat(statName(closed, "denied"))).To(BeNumerically(">=", 1))
		})
	})
})
