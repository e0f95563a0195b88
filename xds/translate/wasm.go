package translate

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/trafficext/trafficext/xds/model"
)

// WasmResolver makes a Wasm module available as a local file before the ECDS resource that
// references it is served.
//
// Resolve is called while a proxy's configuration is built, possibly for many proxies in a
// row: it must answer from what is already known (the control plane fetches modules ahead of
// translation; see xds/fetch.Resolver) and must not block on the network.
type WasmResolver interface {
	// Resolve returns the local path and the hex sha256 of the module of a Wasm extension, or
	// an error when the module cannot be had (the extension's fail strategy then applies).
	// The error text should name the registry or file.
	Resolve(e *model.Extension) (path, sha256 string, err error)
}

// FileResolver resolves file:// URLs by reading the file on the control plane's file system
// (the standalone proxy shares it) and checking spec.wasm.sha256 when given. Other schemes are
// reported as not fetchable: the control plane uses xds/fetch.Resolver for them.
type FileResolver struct{}

var _ WasmResolver = FileResolver{}

// Resolve implements WasmResolver.
func (FileResolver) Resolve(e *model.Extension) (string, string, error) {
	url := e.Spec.GetWasm().GetUrl()
	path, ok := strings.CutPrefix(url, "file://")
	if !ok {
		return "", "", fmt.Errorf("fetching module %q: only file:// modules are supported yet", url)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", "", fmt.Errorf("reading module: %w", err)
	}
	sum := sha256.Sum256(data)
	got := hex.EncodeToString(sum[:])
	if want := e.Spec.GetWasm().GetSha256(); want != "" && want != got {
		return "", "", fmt.Errorf("module %s: sha256 %s does not match spec.wasm.sha256 %s", path, got, want)
	}
	return path, got, nil
}
