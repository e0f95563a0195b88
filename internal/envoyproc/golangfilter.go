package envoyproc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// golangProbe is a bootstrap whose only extension is the contrib golang HTTP filter. Envoy
// builds without it reject the filter's config type; contrib builds fail later (the library
// does not exist) or not at all.
const golangProbe = `static_resources:
  listeners:
  - name: probe
    address: {socket_address: {address: 127.0.0.1, port_value: 1}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: probe
          route_config: {}
          http_filters:
          - name: envoy.filters.http.golang
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.golang.v3alpha.Config
              library_id: probe
              library_path: /nonexistent/trafficext-probe.so
              plugin_name: probe
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
`

// HasGolangFilter reports whether the Envoy binary bin has the contrib golang HTTP filter
// (envoy.filters.http.golang), by validating a config that uses it (--mode validate).
func HasGolangFilter(bin string) (bool, error) {
	dir, err := os.MkdirTemp("", "trafficext-golang-probe-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)
	cfg := filepath.Join(dir, "probe.yaml")
	if err := os.WriteFile(cfg, []byte(golangProbe), 0o644); err != nil {
		return false, err
	}
	out, err := exec.Command(bin, "--mode", "validate", "-c", cfg, "-l", "error").CombinedOutput()
	s := string(out)
	if strings.Contains(s, "envoy.extensions.filters.http.golang.v3alpha.Config") && strings.Contains(s, "could not find @type") ||
		strings.Contains(s, "Didn't find a registered implementation") {
		return false, nil
	}
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		return false, fmt.Errorf("probing %s for the golang filter: %w", bin, err)
	}
	return true, nil
}

// GolangLibrary returns the golang-filter library of this checkout: TRAFFICEXT_GOLANG_LIBRARY,
// else the build for the Envoy 1.38 line (whose C interface the golang host implements) in
// out/golang/1.38/, else out/trafficext_golang.so.
func GolangLibrary() (string, error) {
	if p := os.Getenv("TRAFFICEXT_GOLANG_LIBRARY"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("TRAFFICEXT_GOLANG_LIBRARY: %w", err)
		}
		return p, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	for _, p := range []string{
		filepath.Join(root, "out", "golang", "1.38", "trafficext_golang.so"),
		filepath.Join(root, "out", "trafficext_golang.so"),
	} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no golang-filter library in %s/out (run `make golang-filter`, or set TRAFFICEXT_GOLANG_LIBRARY)", root)
}

// GolangHostModule returns the golang host dynamic module (libgolanghost.so) next to
// libtrafficext.so.
func GolangHostModule() (string, error) {
	dir, err := ModuleDir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "libgolanghost.so")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("golang host module: %w (run `make golanghost`)", err)
	}
	return p, nil
}
