//go:build conformance

package contract

import (
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
