//go:build conformance

package specs

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
)

// The README's main job: `make run` = `trafficext run --extensions examples` on the default
// ports (gateway 127.0.0.1:10000, admin 9901, ADS 18000, demo upstream 8081).
var _ = Describe("trafficext run", Serial, Label("gateway", "lua", "examples", "local-only"), func() {
	BeforeEach(localOnly)
	It("serves the examples through real Envoy on the default ports", func() {
		root := moduleRoot()
		cmd := exec.Command(filepath.Join(root, "out", "trafficext"), "run", "--extensions", "examples")
		cmd.Dir = root
		cmd.Env = os.Environ()
		s, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		defer func() {
			s.Signal(syscall.SIGINT)
			Eventually(s).WithTimeout(15 * time.Second).Should(gexec.Exit(0))
		}()
		Eventually(s.Out).WithTimeout(30 * time.Second).Should(gbytes.Say("trafficext is running"))

		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		parity := func(n string) string {
			req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:10000/", nil)
			if n != "" {
				req.Header.Set("x-number", n)
			}
			resp, err := client.Do(req)
			if err != nil {
				return "error: " + err.Error()
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				return "status " + resp.Status
			}
			if len(resp.Header.Values("x-parity")) == 0 {
				return "<none>"
			}
			return resp.Header.Get("x-parity")
		}
		Eventually(func() string { return parity("7") }).WithTimeout(10 * time.Second).Should(Equal("odd"))
		Expect(parity("8")).To(Equal("even"))
		Expect(parity("")).To(Equal("<none>"))
	})
})
