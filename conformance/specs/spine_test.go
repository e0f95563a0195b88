//go:build conformance

package specs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/trafficext/trafficext/conformance/driver/local"
	"github.com/trafficext/trafficext/internal/envoyproc"
)

func moduleRoot() string {
	root, err := envoyproc.ModuleRoot()
	Expect(err).NotTo(HaveOccurred())
	return root
}

var _ = Describe("The parity example", Label("gateway", "lua", "examples"), func() {
	It("adds x-parity from x-number through dynamic metadata", func() {
		yaml, err := os.ReadFile(filepath.Join(moduleRoot(), "examples", "parity.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(env.Apply("parity.yaml", yaml)).To(Succeed())
		gw := env.Gateway()
		Eventually(func() string {
			return get(gw, "/", map[string]string{"x-number": "7"}).Header.Get("x-parity")
		}).WithTimeout(10 * time.Second).Should(Equal("odd"))
		r := get(gw, "/", map[string]string{"x-number": "8"})
		Expect(r.Status).To(Equal(200))
		Expect(r.Header.Get("x-parity")).To(Equal("even"))
		Expect(r.Reached).To(BeTrue())
		r = get(gw, "/", nil)
		Expect(r.Status).To(Equal(200))
		Expect(r.Header.Values("x-parity")).To(BeEmpty())
	})
})

var _ = Describe("Updating an extension", Label("gateway", "lua", "update"), func() {
	versionScript := func(v string) string {
		return `function envoy_on_response(handle)
  handle:headers():replace("x-version", "` + v + `")
end
`
	}
	It("takes effect within 2s on a live keep-alive connection without a listener update", func() {
		gw := env.Gateway()
		Expect(env.Apply("hot.yaml", luaExtension("hot", "STATS", nil, nil, versionScript("v1")))).To(Succeed())
		Eventually(func() string { return get(gw, "/", nil).Header.Get("x-version") }).
			WithTimeout(10 * time.Second).Should(Equal("v1"))

		// Let the listener settle (the extension's arrival replaced it), then measure.
		Eventually(func() bool {
			a, _ := gw.Stat("listener_manager.total_listeners_warming")
			return a == 0
		}).WithTimeout(10 * time.Second).Should(BeTrue())
		ka := dialKeepAlive(gw)
		defer ka.close()
		Expect(ka.get("/", nil).Header.Get("x-version")).To(Equal("v1"))
		modified, err := gw.Stat("listener_manager.listener_modified")
		Expect(err).NotTo(HaveOccurred())
		added, err := gw.Stat("listener_manager.listener_added")
		Expect(err).NotTo(HaveOccurred())

		start := time.Now()
		Expect(env.Apply("hot.yaml", luaExtension("hot", "STATS", nil, nil, versionScript("v2")))).To(Succeed())
		Eventually(func() string { return ka.get("/", nil).Header.Get("x-version") }).
			WithTimeout(2 * time.Second).WithPolling(50 * time.Millisecond).Should(Equal("v2"))
		GinkgoWriter.Printf("update visible on the live connection after %v\n", time.Since(start))

		Expect(gw.Stat("listener_manager.listener_modified")).To(Equal(modified))
		Expect(gw.Stat("listener_manager.listener_added")).To(Equal(added))
		// The same connection keeps serving.
		Expect(ka.get("/", nil).Header.Get("x-version")).To(Equal("v2"))
	})
})

var _ = Describe("Phase and priority ordering", Label("gateway", "lua", "ordering"), func() {
	It("runs AUTHN, AUTHZ, STATS in order: the client sees 321 on the response", func() {
		gw := env.Gateway()
		Expect(env.Apply("order.yaml", bytes.Join([][]byte{
			luaExtension("stats-3", "STATS", nil, nil, appendScript("x-phase-order", "3")),
			luaExtension("authn-1", "AUTHN", nil, nil, appendScript("x-phase-order", "1")),
			luaExtension("authz-2", "AUTHZ", nil, nil, appendScript("x-phase-order", "2")),
		}, []byte("---\n")))).To(Succeed())
		var r response
		Eventually(func() string {
			r = get(gw, "/", nil)
			return r.Header.Get("x-phase-order")
		}).WithTimeout(10 * time.Second).Should(Equal("321"))
		Expect(r.Reached).To(BeTrue())
		Expect(r.Echo.Header("x-phase-order")).To(Equal("123"))
	})

	It("orders one phase by priority, higher first, unset after every set priority, ties by name", func() {
		gw := env.Gateway()
		Expect(env.Apply("prio.yaml", bytes.Join([][]byte{
			luaExtension("p-unset", "AUTHZ", nil, nil, appendScript("x-order", "u")),
			luaExtension("p-minus1", "AUTHZ", ptr(-1), nil, appendScript("x-order", "m")),
			luaExtension("p-10", "AUTHZ", ptr(10), nil, appendScript("x-order", "a")),
			luaExtension("tie-b", "AUTHZ", ptr(5), nil, appendScript("x-order", "c")),
			luaExtension("tie-a", "AUTHZ", ptr(5), nil, appendScript("x-order", "b")),
		}, []byte("---\n")))).To(Succeed())
		var r response
		Eventually(func() string {
			r = get(gw, "/", nil)
			return r.Header.Get("x-order")
		}).WithTimeout(10 * time.Second).Should(Equal("umcba"))
		Expect(r.Echo.Header("x-order")).To(Equal("abcmu"))
	})
})

var _ = Describe("Bad input", Label("gateway", "lua", "validation", "failure"), func() {
	good := func(v string) []byte {
		return luaExtension("victim", "STATS", nil, nil, `function envoy_on_response(handle)
  handle:headers():replace("x-victim", "`+v+`")
end
`)
	}
	bystander := func(v string) []byte {
		return luaExtension("bystander", "STATS", nil, nil, `function envoy_on_response(handle)
  handle:headers():replace("x-bystander", "`+v+`")
end
`)
	}
	DescribeTable("is rejected with a message naming file, resource and field; the previous version keeps serving",
		func(file string, want []string) {
			gw := env.Gateway()
			bad, err := os.ReadFile(filepath.Join(moduleRoot(), "conformance", "testdata", "invalid", file))
			Expect(err).NotTo(HaveOccurred())

			// trafficext validate exits non-zero with the message.
			cmd := exec.Command(filepath.Join(moduleRoot(), "out", "trafficext"), "validate", filepath.Join("conformance", "testdata", "invalid", file))
			cmd.Dir = moduleRoot()
			out, err := cmd.CombinedOutput()
			Expect(err).To(HaveOccurred(), "validate must fail: %s", out)
			Expect(cmd.ProcessState.ExitCode()).To(Equal(1))
			for _, w := range want {
				Expect(string(out)).To(ContainSubstring(w))
			}

			// A running control plane keeps the previous good version and updates the others.
			Expect(env.Apply("victim.yaml", good("good"))).To(Succeed())
			Expect(env.Apply("bystander.yaml", bystander("1"))).To(Succeed())
			Eventually(func() []string {
				r := get(gw, "/", nil)
				return []string{r.Header.Get("x-victim"), r.Header.Get("x-bystander")}
			}).WithTimeout(10 * time.Second).Should(Equal([]string{"good", "1"}))

			Expect(env.Apply("victim.yaml", bad)).To(Succeed())
			Expect(env.Apply("bystander.yaml", bystander("2"))).To(Succeed())
			Eventually(func() string { return get(gw, "/", nil).Header.Get("x-bystander") }).
				WithTimeout(10 * time.Second).Should(Equal("2"))
			Expect(get(gw, "/", nil).Header.Get("x-victim")).To(Equal("good"))
			Eventually(func() string { return strings.Join(env.Problems(), "\n") }).
				WithTimeout(5 * time.Second).Should(And(ContainSubstring("victim.yaml"), ContainSubstring(want[len(want)-1])))
			Consistently(func() string { return get(gw, "/", nil).Header.Get("x-victim") }).
				WithTimeout(500 * time.Millisecond).Should(Equal("good"))
		},
		Entry("both lua and wasm", "both-lua-and-wasm.yaml", []string{"both-lua-and-wasm.yaml", "istio-system/victim", "spec: exactly one of wasm or lua must be set"}),
		Entry("neither lua nor wasm", "neither-lua-nor-wasm.yaml", []string{"neither-lua-nor-wasm.yaml", "istio-system/victim", "spec: exactly one of wasm or lua must be set"}),
		Entry("a Lua syntax error", "lua-syntax-error.yaml", []string{"lua-syntax-error.yaml", "istio-system/victim", "spec.lua.inlineCode: line 2"}),
		Entry("Lua over 64 KiB", "lua-too-large.yaml", []string{"lua-too-large.yaml", "istio-system/victim", "spec.lua.inlineCode", "exceeds the limit of 65536"}),
		Entry("an unknown phase", "unknown-phase.yaml", []string{"unknown-phase.yaml", "istio-system/victim", `spec.phase: unknown value "AUTHX"`}),
		Entry("malformed YAML", "malformed-yaml.yaml", []string{"malformed-yaml.yaml", "istio-system/victim", "line 8"}),
	)
})

var _ = Describe("A Go panic inside an extension", Label("gateway", "lua", "failure"), func() {
	script := `function envoy_on_response(handle)
  handle:headers():replace("x-ran", "yes")
end
`
	It("answers 500 for a fail-closed extension, passes for a fail-open one, and Envoy keeps serving", func() {
		gw := env.Gateway()
		Expect(env.Apply("panic.yaml", bytes.Join([][]byte{
			luaExtension("closed", "AUTHZ", nil, nil, script),
			luaExtension("open", "AUTHN", nil, map[string]string{"trafficext.io/fail-strategy": "FAIL_OPEN"}, script),
		}, []byte("---\n")))).To(Succeed())
		Eventually(func() string { return get(gw, "/", nil).Header.Get("x-ran") }).
			WithTimeout(10 * time.Second).Should(Equal("yes"))
		before, _ := gw.Stat("dynamicmodulescustom.trafficext.istio-system.closed.panic")

		r := get(gw, "/", map[string]string{local.PanicHeader: "istio-system.closed"})
		Expect(r.Status).To(Equal(500))
		Expect(r.Body).To(ContainSubstring("trafficext: extension extensions.istio.io/trafficextension/istio-system.closed failed"))
		Expect(r.Reached).To(BeFalse())
		Expect(gw.Stat("dynamicmodulescustom.trafficext.istio-system.closed.panic")).To(Equal(before + 1))

		r = get(gw, "/", map[string]string{local.PanicHeader: "istio-system.open"})
		Expect(r.Status).To(Equal(200))
		Expect(r.Reached).To(BeTrue())
		Expect(gw.Stat("dynamicmodulescustom.trafficext.istio-system.open.fail_open")).To(BeNumerically(">=", 1))

		Expect(gw.Alive()).To(BeTrue())
		r = get(gw, "/", nil)
		Expect(r.Status).To(Equal(200))
		Expect(r.Header.Get("x-ran")).To(Equal("yes"))
	})
})
