//go:build conformance

package specs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

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

var _ = Describe("Bad input", Label("gateway", "lua", "validation", "failure", "local-only"), func() {
	BeforeEach(localOnly)
	good := func(v string) []byte {
		return gatewayMode.ext("victim").withPhase("STATS").withLua(responseHeaderScript("x-victim", v)).yaml()
	}
	bystander := func(v string) []byte {
		return gatewayMode.ext("bystander").withPhase("STATS").withLua(responseHeaderScript("x-bystander", v)).yaml()
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
