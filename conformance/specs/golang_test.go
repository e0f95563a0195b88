//go:build conformance

package specs

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"

	"github.com/trafficext/trafficext/internal/envoyproc"
	"github.com/trafficext/trafficext/internal/loopback"
)

// golangBinding is what -binding golang runs: the golang-filter library and whether it needs
// the golang host module, i.e. whether the Envoy under test lacks the contrib golang filter.
func golangBinding() (lib string, host bool, err error) {
	bin, err := envoyproc.FindBinary()
	if err != nil {
		return "", false, err
	}
	contrib, err := envoyproc.HasGolangFilter(bin)
	if err != nil {
		return "", false, err
	}
	line := envoyproc.GolangHostLine // Envoy's own golang filter needs the library of its line
	if contrib {
		if line, err = envoyproc.EnvoyLine(bin); err != nil {
			return "", false, err
		}
	}
	if lib, err = envoyproc.GolangLibraryFor(line); err != nil {
		return "", false, fmt.Errorf("-binding golang: %w", err)
	}
	if !contrib {
		if _, err := envoyproc.GolangHostModule(); err != nil {
			return "", false, fmt.Errorf("-binding golang: %s has no golang filter: %w", bin, err)
		}
	}
	return lib, !contrib, nil
}

// envoyVersionFor is the Envoy line libtrafficext.so is built for (the Makefile's
// ENVOY_VERSION): the dynamic module only loads in that Envoy.
func envoyVersionFor() string {
	b, err := os.ReadFile(filepath.Join(moduleRoot(), "Makefile"))
	Expect(err).NotTo(HaveOccurred())
	m := regexp.MustCompile(`(?m)^ENVOY_VERSION\s*:?=\s*(\S+)`).FindSubmatch(b)
	Expect(m).NotTo(BeNil(), "ENVOY_VERSION in the Makefile")
	return string(m[1])
}

// envoyVersion is the version of the Envoy under test ("1.39.3").
func envoyVersion() string {
	bin, err := envoyproc.FindBinary()
	Expect(err).NotTo(HaveOccurred())
	out, err := exec.Command(bin, "--version").CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), string(out))
	m := regexp.MustCompile(`/(\d+\.\d+\.\d+)/`).FindSubmatch(out)
	Expect(m).NotTo(BeNil(), string(out))
	return string(m[1])
}

// The examples through `trafficext run` with either binding: the parity Lua example and the
// basic-auth Proxy-Wasm example (built here, served from a file) answer the same through the
// dynamic module and through the golang-filter library — Envoy's own golang filter when the
// Envoy has it, else the golang host module.
var _ = Describe("trafficext run with each binding", Serial, Label("gateway", "lua", "wasm", "examples", "local-only"), func() {
	BeforeEach(localOnly)
	DescribeTable("serves the parity and basic-auth examples", func(binding string) {
		root := moduleRoot()
		switch binding {
		case "dynamic-modules":
			if v := envoyVersion(); v != envoyVersionFor() {
				Skip(fmt.Sprintf("libtrafficext.so is built for Envoy %s, ENVOY_BIN is %s", envoyVersionFor(), v))
			}
		case "golang":
			if _, host, err := golangBinding(); err != nil {
				Fail(err.Error())
			} else if host && !strings.HasPrefix(envoyVersion(), "1.39.") {
				Skip("the golang host is a dynamic module for Envoy 1.39; ENVOY_BIN is " + envoyVersion())
			}
		}
		dir := GinkgoT().TempDir()
		wasm := filepath.Join(dir, "basic-auth.wasm")
		build := exec.Command("go", "build", "-trimpath", "-buildmode=c-shared", "-o", wasm, ".")
		build.Dir = filepath.Join(root, "examples", "wasm", "basic-auth")
		build.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		out, err := build.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		exts := filepath.Join(dir, "extensions")
		Expect(os.Mkdir(exts, 0o755)).To(Succeed())
		parity, err := os.ReadFile(filepath.Join(root, "examples", "parity.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(os.WriteFile(filepath.Join(exts, "parity.yaml"), parity, 0o644)).To(Succeed())
		auth, err := os.ReadFile(filepath.Join(root, "examples", "basic-auth.yaml"))
		Expect(err).NotTo(HaveOccurred())
		auth = regexp.MustCompile(`url: \S+`).ReplaceAll(auth, []byte("url: file://"+wasm))
		Expect(os.WriteFile(filepath.Join(exts, "basic-auth.yaml"), auth, 0o644)).To(Succeed())

		port := func() string {
			p, err := loopback.FreePort()
			Expect(err).NotTo(HaveOccurred())
			return strconv.Itoa(p)
		}
		listen, admin := "127.0.0.1:"+port(), port()
		cmd := exec.Command(filepath.Join(root, "out", "trafficext"), "run", "--binding", binding, "--extensions", exts,
			"--listen", listen, "--admin-port", admin, "--xds-address", "127.0.0.1:"+port(),
			"--upstream", "127.0.0.1:"+port(), "--status-address", "127.0.0.1:"+port(),
			"--callout-gateway", fmt.Sprintf("unix:@trafficext-run-%s-%d", binding, os.Getpid()))
		cmd.Dir = root
		s, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		defer func() {
			s.Signal(syscall.SIGINT)
			Eventually(s).WithTimeout(15 * time.Second).Should(gexec.Exit(0))
		}()
		Eventually(s.Out).WithTimeout(60 * time.Second).Should(gbytes.Say("trafficext is running"))

		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		do := func(method, path, user string, hdr ...string) (int, http.Header) {
			req, _ := http.NewRequest(method, "http://"+listen+path, nil)
			if user != "" {
				u, p, _ := strings.Cut(user, ":")
				req.SetBasicAuth(u, p)
			}
			for i := 0; i+1 < len(hdr); i += 2 {
				req.Header.Set(hdr[i], hdr[i+1])
			}
			resp, err := client.Do(req)
			if err != nil {
				return 0, nil
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode, resp.Header
		}
		Eventually(func() int { st, _ := do("GET", "/productpage", ""); return st }).WithTimeout(20 * time.Second).Should(Equal(401))
		st, h := do("GET", "/productpage", "")
		Expect(st).To(Equal(401))
		Expect(h.Get("WWW-Authenticate")).To(ContainSubstring("Basic"))
		st, _ = do("GET", "/productpage", "ok:test")
		Expect(st).To(Equal(200))
		st, _ = do("GET", "/productpage", "admin3:admin3")
		Expect(st).To(Equal(200))
		st, _ = do("GET", "/productpage", "ok:wrong")
		Expect(st).To(Equal(401))
		st, _ = do("PUT", "/productpage", "")
		Expect(st).To(Equal(200))
		st, _ = do("GET", "/other", "")
		Expect(st).To(Equal(200))
		for n, want := range map[string]string{"7": "odd", "8": "even"} {
			st, h = do("GET", "/", "", "x-number", n)
			Expect(st).To(Equal(200))
			Expect(h.Get("x-parity")).To(Equal(want))
		}
	},
		Entry("through the dynamic module", "dynamic-modules"),
		Entry("through the golang-filter library", "golang"),
	)
})
