//go:build conformance

package contract

import (
	"debug/elf"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trafficext/trafficext/conformance/golanghost"
	"github.com/trafficext/trafficext/host/contract"
	"github.com/trafficext/trafficext/internal/envoyproc"
)

// TestContractGolangHost runs the binding contract through the golang-filter library
// (trafficext_golang.so) inside stock Envoy, hosted by the C++ dynamic module
// libgolanghost.so (make golanghost golang-filter): the real cgo layer of the library, driven
// by Envoy worker threads and calling back from goroutines. The library is
// TRAFFICEXT_GOLANG_LIBRARY, or out/trafficext_golang.so.
func TestContractGolangHost(t *testing.T) {
	lib := golangLibrary(t)
	contract.Run(t, envoyDriver{filter: func(name string, raw []byte) (map[string]any, error) {
		return golanghost.Filter(lib, raw)
	}})
}

// golangLibrary is the golang-filter library under test; it fails the test when the library
// or the host module is missing.
func golangLibrary(t testing.TB) string {
	if _, err := envoyproc.GolangHostModule(); err != nil {
		t.Fatal(err)
	}
	lib, err := envoyproc.GolangLibrary()
	if err != nil {
		t.Fatal(err)
	}
	return lib
}

// TestGolangHostImportsExportedByEnvoy: every dynamic-modules callback libgolanghost.so
// imports is exported by the Envoy under test (a missing one fails the module's load, or
// worse, a lazily bound call), and the host defines every envoyGoFilter* function a golang
// library may import.
func TestGolangHostImportsExportedByEnvoy(t *testing.T) {
	host, err := envoyproc.GolangHostModule()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := envoyproc.FindBinary()
	if err != nil {
		t.Fatal(err)
	}
	if bin, err = filepath.EvalSymlinks(bin); err != nil {
		t.Fatal(err)
	}
	dynsyms := func(path string) (defined, undefined map[string]bool) {
		f, err := elf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		syms, err := f.DynamicSymbols()
		if err != nil {
			t.Fatal(err)
		}
		defined, undefined = map[string]bool{}, map[string]bool{}
		for _, s := range syms {
			if s.Section == elf.SHN_UNDEF {
				undefined[s.Name] = true
			} else {
				defined[s.Name] = true
			}
		}
		return defined, undefined
	}
	envoyDefined, _ := dynsyms(bin)
	hostDefined, hostUndefined := dynsyms(host)
	n := 0
	for s := range hostUndefined {
		if strings.HasPrefix(s, "envoy_dynamic_module_callback_") {
			n++
			if !envoyDefined[s] {
				t.Errorf("libgolanghost.so imports %s, which %s does not export", s, bin)
			}
		}
	}
	if n < 20 {
		t.Errorf("libgolanghost.so imports only %d callbacks", n)
	}
	lib, err := envoyproc.GolangLibrary()
	if err != nil {
		t.Fatal(err)
	}
	_, libUndefined := dynsyms(lib)
	for s := range libUndefined {
		if strings.HasPrefix(s, "envoyGo") && !hostDefined[s] {
			t.Errorf("%s imports %s, which libgolanghost.so does not define", lib, s)
		}
	}
}
