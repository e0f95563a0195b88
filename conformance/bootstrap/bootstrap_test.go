//go:build conformance

// Package bootstrap checks the bootstrap internal/envoyproc generates with the real Envoy.
package bootstrap

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trafficext/trafficext/internal/envoyproc"
	"github.com/trafficext/trafficext/xds/proxyid"
)

// TestADSBootstrapValidatesInEnvoy checks the generated bootstrap with the real Envoy binary
// in validate mode.
func TestADSBootstrapValidatesInEnvoy(t *testing.T) {
	bin, err := envoyproc.FindBinary()
	if err != nil {
		t.Fatal(err)
	}
	id := proxyid.Identity{ID: "gw", Cluster: "gw", Mode: proxyid.Gateway, Namespace: "istio-system",
		Labels: map[string]string{"istio": "ingressgateway"}, GatewayName: "ingressgateway"}
	for name, bootstrap := range map[string]func(proxyid.Identity, string, int) (string, error){
		"sotw": envoyproc.ADSBootstrap, "delta": envoyproc.DeltaADSBootstrap,
	} {
		boot, err := bootstrap(id, "127.0.0.1:18000", 19999)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "b.json")
		if err := os.WriteFile(p, []byte(boot), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, "--mode", "validate", "-c", p, "-l", "error").CombinedOutput()
		if err != nil {
			t.Fatalf("%s: envoy --mode validate: %v\n%s", name, err, out)
		}
		if !strings.Contains(string(out), "OK") {
			t.Fatalf("%s: unexpected validate output: %s", name, out)
		}
	}
	if _, err := envoyproc.ADSBootstrap(id, "no-port", 1); err == nil {
		t.Error("an xds address without port was accepted")
	}
}
