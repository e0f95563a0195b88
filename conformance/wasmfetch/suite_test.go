//go:build conformance

package wasmfetch

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/trafficext/trafficext/internal/echo"
	"github.com/trafficext/trafficext/internal/envoyproc"
	"github.com/trafficext/trafficext/internal/loopback"
	"github.com/trafficext/trafficext/xds"
	"github.com/trafficext/trafficext/xds/fetch"
	"github.com/trafficext/trafficext/xds/fetch/fetchtest"
	"github.com/trafficext/trafficext/xds/proxyid"
	"github.com/trafficext/trafficext/xds/translate"
)

func TestWasmFetch(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Wasm module distribution")
}

// env is one control plane, one gateway Envoy, one echo upstream and one registry.
type env struct {
	dir      string
	cp       *xds.ControlPlane
	envoy    *envoyproc.Process
	listen   string
	registry *fetchtest.Registry
	modules  map[string][]byte // basic-auth builds by version
	client   *http.Client
}

var e *env

var _ = BeforeSuite(func() {
	root, err := envoyproc.ModuleRoot()
	Expect(err).NotTo(HaveOccurred())
	e = &env{dir: GinkgoT().TempDir(), modules: map[string][]byte{},
		client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	By("building the basic-auth plugin, versions 0.0.1 and 0.0.2")
	for _, v := range []string{"0.0.1", "0.0.2"} {
		out := filepath.Join(GinkgoT().TempDir(), "basic-auth.wasm")
		cmd := exec.Command("go", "build", "-trimpath", "-buildmode=c-shared", "-ldflags", "-X main.version="+v, "-o", out, ".")
		cmd.Dir = filepath.Join(root, "examples", "wasm", "basic-auth")
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		b, err := cmd.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(b))
		e.modules[v], err = os.ReadFile(out)
		Expect(err).NotTo(HaveOccurred())
	}

	By("starting docker-registry")
	e.registry = fetchtest.Start(GinkgoT(), fetchtest.Options{})

	up, err := echo.Start("127.0.0.1:0", "upstream")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(up.Close)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	gw, err := freeAddr()
	Expect(err).NotTo(HaveOccurred())
	e.listen = gw
	e.cp, err = xds.New(xds.Options{
		Dir: e.dir,
		// Other suites' Envoys may run on this host at the same time: a callout gateway socket
		// of this suite's own.
		Translate: translate.Options{ListenerAddress: gw, Upstream: up.Addr(), CalloutGateway: "unix:@trafficext-callout-wasmfetch/" + translate.CalloutGatewayProxyPlaceholder},
		Logger:    slog.New(slog.NewTextHandler(GinkgoWriter, nil)),
		Wasm: xds.WasmOptions{
			Fetch:    fetch.Options{CacheDir: GinkgoT().TempDir(), Attempts: 2, Backoff: 50 * time.Millisecond},
			Resolver: fetch.ResolverOptions{SyncWait: 5 * time.Second, RetryBase: 200 * time.Millisecond, RetryMax: time.Second},
		},
	})
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.cp.Serve(ctx, lis) }()
	DeferCleanup(func() { cancel(); <-done })
	Eventually(e.cp.Ready()).WithTimeout(10 * time.Second).Should(BeClosed())

	By("starting the gateway Envoy")
	adminPort, err := freePort()
	Expect(err).NotTo(HaveOccurred())
	id := proxyid.Identity{
		ID: "gateway", Cluster: "istio-ingressgateway", Mode: proxyid.Gateway, Namespace: "istio-system",
		Labels:      map[string]string{"istio": "ingressgateway", "app": "istio-ingressgateway"},
		GatewayName: "ingressgateway",
	}
	boot, err := envoyproc.ADSBootstrap(id, lis.Addr().String(), adminPort)
	Expect(err).NotTo(HaveOccurred())
	e.envoy, err = envoyproc.Start(context.Background(), envoyproc.Options{
		Bootstrap: boot, AdminPort: adminPort, Log: GinkgoWriter,
		LogLevel: "warning", ComponentLogLevel: "dynamic_modules:info",
	})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(e.envoy.Stop)
	Eventually(func() int { return e.get("GET", "/", "").status }).WithTimeout(15 * time.Second).Should(Equal(200))
})

func freePort() (int, error) { return loopback.FreePort() }

func freeAddr() (string, error) {
	p, err := freePort()
	return fmt.Sprintf("127.0.0.1:%d", p), err
}

// push publishes a basic-auth version under repo:tag and returns the manifest digest (hex).
func (e *env) push(ref, version string) string {
	GinkgoHelper()
	img, err := fetch.Image(e.modules[version], fetch.LayoutOCIImage)
	Expect(err).NotTo(HaveOccurred())
	d, err := fetch.Push(context.Background(), e.registry.Addr+"/"+ref, img, fetch.PushOptions{})
	Expect(err).NotTo(HaveOccurred())
	return strings.TrimPrefix(d, "sha256:")
}

func (e *env) apply(name, yaml string) {
	GinkgoHelper()
	Expect(os.WriteFile(filepath.Join(e.dir, name+".yaml"), []byte(yaml), 0o644)).To(Succeed())
}

type response struct {
	status int
	header http.Header
	body   string
	err    error
}

func (r response) String() string {
	if r.err != nil {
		return "error " + r.err.Error()
	}
	return fmt.Sprintf("%d %v", r.status, r.header)
}

// get sends a request through the gateway; userPass "" sends no credentials.
func (e *env) get(method, path, userPass string) response {
	req, _ := http.NewRequest(method, "http://"+e.listen+path, nil)
	if userPass != "" {
		u, p, _ := strings.Cut(userPass, ":")
		req.SetBasicAuth(u, p)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return response{err: err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// ext is a basic-auth TrafficExtension in istio-system protecting prefix, exposing its
// version in the response header x-v-<name>.
func ext(name, wasm, prefix string, labels ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: extensions.istio.io/v1alpha1\nkind: TrafficExtension\nmetadata:\n  name: %s\n  namespace: istio-system\n", name)
	if len(labels) > 0 {
		b.WriteString("  labels: {" + strings.Join(labels, ", ") + "}\n")
	}
	b.WriteString("spec:\n  selector: {matchLabels: {istio: ingressgateway}}\n  phase: AUTHN\n  wasm:\n")
	for _, l := range strings.Split(wasm, "\n") {
		b.WriteString("    " + l + "\n")
	}
	fmt.Fprintf(&b, `    pluginConfig:
      version_header: x-v-%s
      basic_auth_rules:
        - prefix: %s
          request_methods: ["GET"]
          credentials: ["ok:test"]
`, name, prefix)
	return b.String()
}
