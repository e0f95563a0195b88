package envoyproc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

// GolangHostLine is the Envoy line whose golang filter C interface the golang host implements.
const GolangHostLine = "1.38"

// GolangLibrary returns the golang-filter library of this checkout for the golang host
// (GolangLibraryFor(GolangHostLine)).
func GolangLibrary() (string, error) { return GolangLibraryFor(GolangHostLine) }

// EnvoyLine returns the "major.minor" line of the Envoy binary bin (from --version).
func EnvoyLine(bin string) (string, error) {
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", bin, err)
	}
	m := regexp.MustCompile(`/(\d+\.\d+)\.\d+/`).FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("%s --version: no version in %q", bin, strings.TrimSpace(string(out)))
	}
	return string(m[1]), nil
}

// GolangLibraryFor returns the golang-filter library of this checkout for an Envoy line:
// TRAFFICEXT_GOLANG_LIBRARY, else out/golang/<line>/trafficext_golang.so (make golang-filter),
// else out/trafficext_golang.so.
func GolangLibraryFor(line string) (string, error) {
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
		filepath.Join(root, "out", "golang", line, "trafficext_golang.so"),
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
