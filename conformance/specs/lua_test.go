//go:build conformance

package specs

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Lua header changes", Label("lua"), func() {
	eachMode(func(m mode) {
		It("adds, replaces and removes request headers before the workload sees them", func() {
			apply("req.yaml", m.ext("req-headers").withLua(`function envoy_on_request(handle)
  handle:headers():add("x-lua-added", "hello")
  handle:headers():replace("x-lua-replaced", "new")
  handle:headers():remove("x-lua-removed")
end
`))
			in := map[string]string{"x-lua-replaced": "old", "x-lua-removed": "bye"}
			Eventually(echoed).WithArguments(m.target(), "x-lua-added", in).WithTimeout(within).Should(Equal("hello"))
			r := get(m.target(), "/", in)
			Expect(r.Status).To(Equal(200))
			Expect(r.Echo.Header("x-lua-replaced")).To(Equal("new"))
			Expect(r.Echo.Has("x-lua-removed")).To(BeFalse())
		})

		It("adds, replaces and removes response headers before the client sees them", func() {
			apply("resp.yaml", m.ext("resp-headers").withLua(`function envoy_on_response(handle)
  handle:headers():add("x-lua-response", "added")
  handle:headers():replace("x-from-workload", "replaced")
  handle:headers():remove("x-remove-me")
end
`))
			in := map[string]string{"x-echo-header": "x-from-workload: 1"}
			var r response
			Eventually(func() string {
				r = get(m.target(), "/", in)
				return r.Header.Get("x-lua-response")
			}).WithTimeout(within).Should(Equal("added"))
			Expect(r.Header.Get("x-from-workload")).To(Equal("replaced"))
			r = do(m.target(), "GET", "/", map[string]string{"x-echo-header": "x-remove-me: 1"})
			Expect(r.Header.Values("x-remove-me")).To(BeEmpty())
			Expect(r.Reached).To(BeTrue())
		})

		It("answers locally with respond(): the workload is not reached", func() {
			apply("respond.yaml", m.ext("respond").withLua(`function envoy_on_request(handle)
  if handle:headers():get("x-deny") == "yes" then
    handle:respond({[":status"] = "418", ["x-local"] = "lua"}, "short and stout")
  end
end
`))
			var r response
			Eventually(func() int {
				r = get(m.target(), "/", map[string]string{"x-deny": "yes"})
				return r.Status
			}).WithTimeout(within).Should(Equal(418))
			Expect(r.Reached).To(BeFalse())
			Expect(r.Body).To(Equal("short and stout"))
			Expect(r.Header.Get("x-local")).To(Equal("lua"))
			r = get(m.target(), "/", nil)
			Expect(r.Status).To(Equal(200))
			Expect(r.Reached).To(BeTrue())
		})
	})
})
