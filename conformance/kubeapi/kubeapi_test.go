//go:build conformance

package kubeapi

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trafficext/trafficext/conformance/driver"
	"github.com/trafficext/trafficext/conformance/driver/kind"
	"github.com/trafficext/trafficext/internal/envoyproc"
)

var kubeContext = flag.String("kube-context", "", "kubectl context of a cluster deployed by `make conformance-kind` (empty: skip)")

// victim is the extension the cases replace: on the gateway, it sets x-victim on responses.
func victim(value string) []byte {
	return []byte(fmt.Sprintf(`apiVersion: extensions.istio.io/v1alpha1
kind: TrafficExtension
metadata:
  name: victim
  namespace: %s
spec:
  selector:
    matchLabels:
      istio: ingressgateway
  phase: STATS
  lua:
    inlineCode: |
      function envoy_on_response(h)
        h:headers():replace("x-victim", %q)
      end
`, driver.RootNamespace, value))
}

func start(t *testing.T) driver.Env {
	t.Helper()
	if *kubeContext == "" {
		t.Skip("no cluster: run through `make conformance-kind` (or pass -kube-context of a deployed kind cluster)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	env, err := kind.Driver{Context: *kubeContext}.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Reset(); _ = env.Close() })
	return env
}

func header(t *testing.T, p driver.Target, name string) string {
	t.Helper()
	resp, err := p.Client().Get(p.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get(name)
}

func waitHeader(t *testing.T, p driver.Target, name, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	got := ""
	for time.Now().Before(deadline) {
		if got = header(t, p, name); got == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: %q after %v, want %q", name, got, timeout, want)
}

// TestInvalidResources: every invalid resource is refused — by the apiserver with the CRD's
// message, or by the control plane in its log — and the previous version keeps serving.
func TestInvalidResources(t *testing.T) {
	env := start(t)
	gw := env.Gateway()
	root, err := envoyproc.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Apply("victim.yaml", victim("good")); err != nil {
		t.Fatal(err)
	}
	waitHeader(t, gw, "x-victim", "good", 30*time.Second)

	// refused: what kubectl prints when the apiserver (or kubectl's own parser) refuses it;
	// empty means the apiserver accepts it and the control plane must refuse it (logged).
	for _, c := range []struct{ file, refused, logged string }{
		{"both-lua-and-wasm.yaml", "spec: Invalid value: exactly one of wasm or lua must be set", ""},
		{"neither-lua-nor-wasm.yaml", "spec: Invalid value: exactly one of wasm or lua must be set", ""},
		{"lua-too-large.yaml", "spec.lua.inlineCode: Too long: may not be more than 65536 bytes", ""},
		{"unknown-phase.yaml", `spec.phase: Unsupported value: "AUTHX"`, ""},
		{"malformed-yaml.yaml", "yaml: line 10", ""},
		{"name-path.yaml", `invalid resource name "../../etc/passwd"`, ""},
		{"name-space.yaml", `metadata.name: Invalid value: "a b"`, ""},
		{"name-too-long.yaml", "metadata.name: Invalid value", ""},
		{"name-unicode.yaml", `metadata.name: Invalid value: "ünïcödé"`, ""},
		{"namespace-invalid.yaml", `namespaces "Istio_System" not found`, ""},
		{"lua-syntax-error.yaml", "", "spec.lua.inlineCode: line 2"},
	} {
		t.Run(c.file, func(t *testing.T) {
			cmd := exec.Command("kubectl", "--context", *kubeContext, "apply", "-f", filepath.Join(root, "conformance", "testdata", "invalid", c.file))
			out, err := cmd.CombinedOutput()
			if c.refused != "" {
				if err == nil {
					t.Fatalf("the apiserver accepted %s: %s", c.file, out)
				}
				if !strings.Contains(string(out), c.refused) {
					t.Errorf("kubectl apply %s: %q does not say %q", c.file, out, c.refused)
				}
			} else {
				if err != nil {
					t.Fatalf("the apiserver refused %s (the control plane's check is under test): %v: %s", c.file, err, out)
				}
				deadline := time.Now().Add(15 * time.Second)
				for !logged(env, "istio-system/victim", c.logged) {
					if time.Now().After(deadline) {
						t.Fatalf("the control plane's log names no %q for istio-system/victim:\n%s", c.logged, strings.Join(env.Problems(), "\n"))
					}
					time.Sleep(250 * time.Millisecond)
				}
			}
			// What serves does not change, for a while.
			for i := 0; i < 5; i++ {
				if got := header(t, gw, "x-victim"); got != "good" {
					t.Fatalf("after %s the gateway answers x-victim %q, want the previous version's \"good\"", c.file, got)
				}
				time.Sleep(100 * time.Millisecond)
			}
			// The accepted bad version is replaced by the good one again for the next case.
			if c.refused == "" {
				if err := env.Apply("victim.yaml", victim("good")); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func logged(env driver.Env, resource, field string) bool {
	for _, l := range env.Problems() {
		if strings.Contains(l, resource) && strings.Contains(l, field) {
			return true
		}
	}
	return false
}

// TestEditReachesKeepAlive: `kubectl apply` of an edit reaches requests on one kept-alive
// connection through the gateway within 2 s, and no listener is added or modified.
func TestEditReachesKeepAlive(t *testing.T) {
	env := start(t)
	gw := env.Gateway()
	if err := env.Apply("victim.yaml", victim("v1")); err != nil {
		t.Fatal(err)
	}
	waitHeader(t, gw, "x-victim", "v1", 30*time.Second)

	conn, err := gw.Dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	ask := func() string {
		t.Helper()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: gateway\r\n\r\n"); err != nil {
			t.Fatalf("the kept-alive connection broke: %v", err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("the kept-alive connection broke: %v", err)
		}
		resp.Body.Close()
		if resp.Close {
			t.Fatal("the gateway closes the kept-alive connection")
		}
		return resp.Header.Get("x-victim")
	}
	if got := ask(); got != "v1" {
		t.Fatalf("x-victim %q on the connection, want v1", got)
	}
	stats := []string{"listener_manager.listener_added", "listener_manager.listener_modified", "listener_manager.listener_removed"}
	before := map[string]int64{}
	for _, s := range stats {
		if before[s], err = gw.Stat(s); err != nil {
			t.Fatal(err)
		}
	}

	t0 := time.Now()
	if err := env.Apply("victim.yaml", victim("v2")); err != nil {
		t.Fatal(err)
	}
	for got := ask(); got != "v2"; got = ask() {
		if time.Since(t0) > 2*time.Second {
			t.Fatalf("the edit did not reach the kept-alive connection within 2 s of kubectl apply (x-victim %q)", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("kubectl apply → the edit on the kept-alive connection: %v", time.Since(t0).Round(time.Millisecond))
	for _, s := range stats {
		after, err := gw.Stat(s)
		if err != nil {
			t.Fatal(err)
		}
		if after != before[s] {
			t.Errorf("%s: %d → %d: the edit changed a listener", s, before[s], after)
		}
	}
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(m.Run())
}
