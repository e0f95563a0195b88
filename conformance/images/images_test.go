//go:build conformance

package images

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trafficext/trafficext/internal/envoyproc"
	"github.com/trafficext/trafficext/xds/fetch"
	"github.com/trafficext/trafficext/xds/proxyid"
)

// versions reads the image names pinned in kind/versions.env.
func versions(t *testing.T, root string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "kind", "versions.env"))
	if err != nil {
		t.Fatal(err)
	}
	v := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if k, val, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			v[k] = val
		}
	}
	return v
}

// docker runs one docker command and returns its trimmed standard output.
func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := dockerErr(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func dockerErr(args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("docker", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String()), nil
}

// env is one test's docker network and the containers on it, removed at cleanup (their logs
// are printed first when the test failed).
type env struct {
	t          *testing.T
	network    string
	containers []string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	if _, err := dockerErr("info"); err != nil {
		t.Skip("docker is not available (`make docker` starts a daemon; `make test` provides one)")
	}
	e := &env{t: t, network: fmt.Sprintf("trafficext-images-%d", os.Getpid())}
	docker(t, "network", "create", e.network)
	t.Cleanup(func() {
		for _, c := range e.containers {
			if t.Failed() {
				logs, _ := exec.Command("docker", "logs", "--tail", "60", c).CombinedOutput()
				t.Logf("--- docker logs %s ---\n%s", c, logs)
			}
			_, _ = dockerErr("rm", "-f", c)
		}
		_, _ = dockerErr("network", "rm", e.network)
	})
	return e
}

// run starts a detached container (docker run options opts, then image and its args) on the
// network, reachable there as name, and returns its address on it.
func (e *env) run(name string, opts []string, image string, args ...string) string {
	e.t.Helper()
	if _, err := dockerErr("image", "inspect", image); err != nil {
		e.t.Fatalf("image %s is missing: build it with `make images` (LOCAL_IMAGES=1 pulls nothing)", image)
	}
	full := e.network + "-" + name
	cmd := append([]string{"run", "-d", "--name", full, "--network", e.network, "--network-alias", name}, opts...)
	docker(e.t, append(append(cmd, image), args...)...)
	e.containers = append(e.containers, full)
	return docker(e.t, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", full)
}

// hostPort is where the host reaches a container's port published on 127.0.0.1.
func (e *env) hostPort(name string, port int) string {
	e.t.Helper()
	out := docker(e.t, "port", e.network+"-"+name, fmt.Sprint(port))
	return strings.Split(out, "\n")[0]
}

// module builds the basic-auth example plugin (its own module, GOOS=wasip1).
func module(t *testing.T, root string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "basic-auth.wasm")
	cmd := exec.Command("go", "build", "-trimpath", "-buildmode=c-shared", "-o", out, ".")
	cmd.Dir = filepath.Join(root, "examples", "wasm", "basic-auth")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the basic-auth plugin: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type reply struct {
	status int
	header http.Header
	body   string
}

func get(method, url string, hdr map[string]string) (reply, error) {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return reply{}, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, string(b)}, nil
}

// eventually polls a request until ok accepts the reply.
func eventually(t *testing.T, what string, timeout time.Duration, method, url string, hdr map[string]string, ok func(reply) bool) reply {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last reply
	var lastErr error
	for time.Now().Before(deadline) {
		last, lastErr = get(method, url, hdr)
		if lastErr == nil && ok(last) {
			return last
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v (last: status %d, headers %v, body %.200q, error %v)", what, timeout, last.status, last.header, last.body, lastErr)
	return last
}

// TestProxyImage_Examples: the examples' parity (inline Lua) and basic-auth (Proxy-Wasm from
// an OCI registry) extensions, served by the xds image to the proxy image.
func TestProxyImage_Examples(t *testing.T) {
	e := newEnv(t)
	root, err := envoyproc.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	v := versions(t, root)

	e.run("registry", []string{"-p", "127.0.0.1::5000"}, v["REGISTRY_IMAGE"])
	regHost := e.hostPort("registry", 5000)
	img, err := fetch.Image(module(t, root), fetch.LayoutOCIImage)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		_, err = fetch.Push(ctx, regHost+"/trafficext/basic-auth:0.0.1", img, fetch.PushOptions{})
		if err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond) // the registry container is still starting
	}
	if err != nil {
		t.Fatalf("pushing the basic-auth module to the registry container: %v", err)
	}

	// The examples as shipped; only the module's registry becomes the registry container.
	ext := t.TempDir()
	for _, f := range []string{"parity.yaml", "basic-auth.yaml"} {
		b, err := os.ReadFile(filepath.Join(root, "examples", f))
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.ReplaceAll(b, []byte("oci://127.0.0.1:5000/"), []byte("oci://registry:5000/"))
		if err := os.WriteFile(filepath.Join(ext, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(ext, 0o755); err != nil { // read by the image's nonroot user
		t.Fatal(err)
	}

	// The control plane hands proxies Wasm modules as files of its module cache (private to
	// its user), so the proxy mounts the same volume and runs as the same user, as a proxy
	// beside `trafficext xds` does.
	cache := t.TempDir()
	if err := os.Chmod(cache, 0o777); err != nil { // written by the xds image's nonroot user
		t.Fatal(err)
	}
	upstream := e.run("upstream", nil, v["ECHO_IMAGE"], "-name", "upstream") + ":9080"
	// The image's entrypoint is `trafficext xds --xds-address 0.0.0.0:18000`; these are its flags.
	xdsIP := e.run("xds", []string{"-v", ext + ":/ext:ro", "-v", cache + ":/var/cache/trafficext"}, v["XDS_IMAGE"],
		"--extensions", "/ext", "--listen", "0.0.0.0:10000", "--upstream", upstream,
		"--wasm-cache", "/var/cache/trafficext/modules")

	// A gateway proxy, as `trafficext run` starts one, in the proxy image: only the bootstrap
	// is ours; the module comes from the image's ENVOY_DYNAMIC_MODULES_SEARCH_PATH.
	id := proxyid.Identity{
		ID: "ingressgateway.istio-system", Cluster: "istio-ingressgateway", Mode: proxyid.Gateway,
		Namespace: "istio-system", GatewayName: "ingressgateway", Upstream: upstream,
		Labels: map[string]string{"istio": "ingressgateway", "app": "istio-ingressgateway"},
	}
	boot, err := envoyproc.DeltaADSBootstrap(id, xdsIP+":18000", 15000)
	if err != nil {
		t.Fatal(err)
	}
	bootDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(bootDir, "bootstrap.json"), []byte(boot), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(bootDir, 0o755); err != nil {
		t.Fatal(err)
	}
	e.run("proxy", []string{"-p", "127.0.0.1::10000", "-v", bootDir + ":/etc/trafficext:ro", "-v", cache + ":/var/cache/trafficext:ro",
		"--user", "65532:65532", "--entrypoint", "/usr/local/bin/envoy"},
		v["PROXY_IMAGE"], "-c", "/etc/trafficext/bootstrap.json", "--component-log-level", "dynamic_modules:info")
	gw := "http://" + e.hostPort("proxy", 10000)

	// parity (Lua): the first requests may meet a listener still warming.
	for _, c := range []struct{ n, want string }{{"7", "odd"}, {"8", "even"}} {
		r := eventually(t, "x-parity for x-number "+c.n, 60*time.Second, "GET", gw+"/", map[string]string{"x-number": c.n},
			func(r reply) bool { return r.status == 200 && r.header.Get("x-parity") != "" })
		if got := r.header.Get("x-parity"); got != c.want {
			t.Errorf("x-number %s: x-parity %q, want %q", c.n, got, c.want)
		}
		var echoed struct{ Server string }
		if err := json.Unmarshal([]byte(r.body), &echoed); err != nil || echoed.Server != "upstream" {
			t.Errorf("x-number %s: the reply is not the echo container's (%v): %.300q", c.n, err, r.body)
		}
	}

	// basic-auth (Wasm): FAIL_OPEN until the control plane has pulled the module, then 401.
	r := eventually(t, "basic-auth active", 60*time.Second, "GET", gw+"/productpage", nil,
		func(r reply) bool { return r.status == 401 })
	if r.header.Get("WWW-Authenticate") == "" {
		t.Errorf("401 without WWW-Authenticate: %v", r.header)
	}
	for _, c := range []struct {
		method, path string
		hdr          map[string]string
		want         int
	}{
		{"GET", "/productpage", map[string]string{"Authorization": "Basic b2s6dGVzdA=="}, 200}, // ok:test
		{"GET", "/productpage", map[string]string{"Authorization": "Basic b2s6d3Jvbmc="}, 401}, // ok:wrong
		{"PUT", "/productpage", nil, 200},
		{"GET", "/other", nil, 200},
	} {
		r, err := get(c.method, gw+c.path, c.hdr)
		if err != nil {
			t.Fatal(err)
		}
		if r.status != c.want {
			t.Errorf("%s %s %v: status %d, want %d", c.method, c.path, c.hdr, r.status, c.want)
		}
	}
}
