//go:build conformance

package wasmfetch

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/trafficext/trafficext/internal/envoyproc"
	"github.com/trafficext/trafficext/xds/fetch"
	"github.com/trafficext/trafficext/xds/model"
)

var _ = Describe("Wasm modules from an OCI registry", Ordered, Label("gateway", "wasm", "fetch"), func() {
	AfterEach(func() {
		entries, _ := os.ReadDir(e.dir)
		for _, f := range entries {
			os.Remove(filepath.Join(e.dir, f.Name()))
		}
		Eventually(func() int { return e.get("GET", "/productpage", "").status }).WithTimeout(10 * time.Second).Should(Equal(200))
	})

	It("serves the basic-auth example (acceptance 5)", func() {
		root, err := envoyproc.ModuleRoot()
		Expect(err).NotTo(HaveOccurred())
		example, err := os.ReadFile(filepath.Join(root, "examples", "basic-auth.yaml"))
		Expect(err).NotTo(HaveOccurred())
		e.push("trafficext/basic-auth:0.0.1", "0.0.1")
		e.apply("basic-auth", strings.Replace(string(example), "oci://127.0.0.1:5000/", e.registry.URL(""), 1))

		Eventually(func() int { return e.get("GET", "/productpage", "").status }).WithTimeout(15 * time.Second).Should(Equal(401))
		r := e.get("GET", "/productpage", "")
		Expect(r.header.Get("WWW-Authenticate")).To(Equal("Basic realm=istio"))
		Expect(r.body).To(ContainSubstring("No Basic Authentication information found"))
		Expect(e.get("GET", "/productpage", "ok:test").status).To(Equal(200))
		Expect(e.get("GET", "/productpage", "admin3:admin3").status).To(Equal(200)) // the base64 credential
		wrong := e.get("GET", "/productpage", "ok:nope")
		Expect(wrong.status).To(Equal(401))
		Expect(wrong.body).To(ContainSubstring("Invalid username and/or password"))
		Expect(e.get("POST", "/productpage", "").status).To(Equal(401))        // POST is in request_methods
		Expect(e.get("POST", "/productpage", "ok:test").status).To(Equal(200)) //
		Expect(e.get("PUT", "/productpage", "").status).To(Equal(200))         // PUT is not
		Expect(e.get("GET", "/reviews", "").status).To(Equal(200))             // other paths pass
		Expect(e.get("GET", "/", "").status).To(Equal(200))
	})

	It("follows the pull policy when a tag moves (acceptance 2)", func() {
		for _, ref := range []string{"tags/ifnotpresent:0.0.1", "tags/always:0.0.1", "tags/unset:0.0.1", "tags/unset:latest"} {
			e.push(ref, "0.0.1")
		}
		write := func(label string) {
			e.apply("ifnotpresent", ext("ifnotpresent", "url: "+e.registry.URL("tags/ifnotpresent:0.0.1")+"\nimagePullPolicy: IfNotPresent", "/p", label))
			e.apply("always", ext("always", "url: "+e.registry.URL("tags/always:0.0.1")+"\nimagePullPolicy: Always", "/p", label))
			e.apply("unset", ext("unset", "url: "+e.registry.URL("tags/unset:0.0.1"), "/p", label))
			e.apply("latest", ext("latest", "url: "+e.registry.URL("tags/unset:latest"), "/p", label))
		}
		versions := func() string {
			r := e.get("GET", "/", "")
			return strings.Join([]string{r.header.Get("x-v-ifnotpresent"), r.header.Get("x-v-always"), r.header.Get("x-v-unset"), r.header.Get("x-v-latest")}, " ")
		}
		write("rev: one")
		Eventually(versions).WithTimeout(15 * time.Second).Should(Equal("0.0.1 0.0.1 0.0.1 0.0.1"))

		By("moving every tag to 0.0.2 and changing every resource (new resourceVersion)")
		for _, ref := range []string{"tags/ifnotpresent:0.0.1", "tags/always:0.0.1", "tags/unset:0.0.1", "tags/unset:latest"} {
			e.push(ref, "0.0.2")
		}
		write("rev: two")
		// IfNotPresent keeps 0.0.1; Always pulls 0.0.2; unset is IfNotPresent except for latest.
		Eventually(versions).WithTimeout(15 * time.Second).Should(Equal("0.0.1 0.0.2 0.0.1 0.0.2"))
		Consistently(versions).WithTimeout(time.Second).Should(Equal("0.0.1 0.0.2 0.0.1 0.0.2"))
	})

	It("rejects a wrong sha256 and keeps serving the previous version (acceptance 3)", func() {
		digest := e.push("pinned/m:0.0.1", "0.0.1")
		url := "url: " + e.registry.URL("pinned/m:0.0.1")
		e.apply("pinned", ext("pinned", url+"\nsha256: \""+digest+"\"", "/p"))
		Eventually(func() string { return e.get("GET", "/", "").header.Get("x-v-pinned") }).WithTimeout(15 * time.Second).Should(Equal("0.0.1"))

		e.push("pinned/m:0.0.1", "0.0.2")
		e.apply("pinned", ext("pinned", url+"\nsha256: \""+strings.Repeat("0", 64)+"\"", "/q"))
		Eventually(func() []model.Key { return e.cp.Status().Stale }).WithTimeout(10 * time.Second).Should(ContainElement(model.Key{Namespace: "istio-system", Name: "pinned"}))
		Expect(strings.Join(problems(), "\n")).To(And(ContainSubstring("istio-system/pinned"), ContainSubstring("checksum_mismatch"), ContainSubstring("registry "+e.registry.Addr)))
		Consistently(func() string { return e.get("GET", "/", "").header.Get("x-v-pinned") }).WithTimeout(time.Second).Should(Equal("0.0.1"))
		Expect(e.get("GET", "/p", "").status).To(Equal(401)) // the previous config (rule on /p) serves
		Expect(e.get("GET", "/q", "").status).To(Equal(200))
	})

	It("denies (FAIL_CLOSE) or skips (FAIL_OPEN) while the registry is down, and recovers on its own (acceptance 4)", func() {
		e.push("down/closed:0.0.1", "0.0.1")
		e.push("down/opened:0.0.1", "0.0.1")
		e.registry.Stop()
		DeferCleanup(e.registry.Start)
		failures := e.cp.WasmMetrics().FailureByReason[fetch.ReasonUnreachable]

		e.apply("opened", ext("opened", "url: "+e.registry.URL("down/opened:0.0.1")+"\nfailStrategy: FAIL_OPEN", "/p"))
		Eventually(func() int64 { return int64(e.cp.WasmMetrics().FailureByReason[fetch.ReasonUnreachable]) }).WithTimeout(15 * time.Second).Should(BeNumerically(">", failures))
		r := e.get("GET", "/p", "")
		Expect(r.status).To(Equal(200), "FAIL_OPEN: the extension is left out")
		Expect(r.header.Get("x-v-opened")).To(BeEmpty())

		e.apply("closed", ext("closed", "url: "+e.registry.URL("down/closed:0.0.1"), "/p"))
		Eventually(func() int { return e.get("GET", "/", "").status }).WithTimeout(15*time.Second).Should(Equal(403), "FAIL_CLOSE: the deny slot answers 403")
		Expect(strings.Join(problems(), "\n")).To(And(ContainSubstring("istio-system/closed"), ContainSubstring("registry "+e.registry.Addr), ContainSubstring("unreachable")))
		denied := e.get("GET", "/", "")
		Expect(denied.body).To(BeEmpty(), "the deny slot answers 403 with an empty body")
		Expect(e.envoy.Stat("dynamicmodulescustom.trafficext.istio-system.closed.denied")).To(BeNumerically(">", 0))

		By("bringing the registry back")
		e.registry.Start()
		Eventually(func() string {
			r := e.get("GET", "/", "")
			return r.String()
		}).WithTimeout(20 * time.Second).Should(And(HavePrefix("200 "), ContainSubstring("X-V-Closed:[0.0.1]"), ContainSubstring("X-V-Opened:[0.0.1]")))
		Expect(e.get("GET", "/p", "").status).To(Equal(401))
	})
})

func problems() []string {
	var out []string
	for _, p := range e.cp.Status().Problems {
		out = append(out, p.Error())
	}
	return out
}
