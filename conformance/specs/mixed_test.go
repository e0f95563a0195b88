//go:build conformance

package specs

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/trafficext/trafficext/engine/wasm/wasmtest"
)

var _ = Describe("Lua and Wasm extensions on one proxy", Label("lua", "wasm", "ordering", "local-only"), func() {
	eachMode(func(m mode) {
		It("interleave by phase: Lua (AUTHN), a Proxy-Wasm guest (AUTHZ), Lua (STATS) reading the guest's header", func() {
			localOnly()
			g := wasmtest.Go(GinkgoTB(), "headers")
			wasmYAML := fmt.Sprintf("    url: file://%s\n    sha256: %s\n    failStrategy: FAIL_CLOSE\n", g.Path, g.SHA256)
			apply("mixed.yaml",
				m.ext("lua-first").withPhase("AUTHN").withLua(appendScript("x-mix", "L")),
				m.ext("wasm-headers").withPhase("AUTHZ").withWasm(wasmYAML),
				m.ext("lua-after").withPhase("STATS").withLua(`function envoy_on_request(handle)
  handle:headers():replace("x-seen-by-lua", handle:headers():get("x-req-added") or "nothing")
end
`),
			)
			var r response
			Eventually(func() string {
				r = get(m.target(), "/", map[string]string{"x-req-remove": "1"})
				if !r.Reached {
					return fmt.Sprintf("status %d: %s", r.Status, r.Body)
				}
				return r.Echo.Header("x-seen-by-lua")
			}).WithTimeout(within).Should(Equal("guest"))
			Expect(r.Echo.Header("x-req-added")).To(Equal("guest"))
			Expect(r.Echo.Has("x-req-remove")).To(BeFalse())
			Expect(r.Echo.Header("x-mix")).To(Equal("L"))
			Expect(r.Header.Get("x-resp-added")).To(Equal("guest"))
			Expect(r.Header.Get("x-mix")).To(Equal("L"))
		})
	})
})
