package translate

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"istio.io/api/extensions/v1alpha1"
)

// WasmResolver makes a Wasm module available as a local file before the ECDS resource that
// references it is served.
type WasmResolver interface {
	// Resolve returns the module's local path and its hex sha256, or an error when the module
	// cannot be had (the extension's fail strategy then applies).
	Resolve(w *v1alpha1.WasmConfig) (path, sha256 string, err error)
}

// FileResolver resolves file:// URLs by reading the file on the control plane's file system
// (the standalone proxy shares it) and checking spec.wasm.sha256 when given. Other schemes are
// reported as not fetchable yet.
type FileResolver struct{}

var _ WasmResolver = FileResolver{}

// Resolve implements WasmResolver.
func (FileResolver) Resolve(w *v1alpha1.WasmConfig) (string, string, error) {
	url := w.GetUrl()
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
	if want := w.GetSha256(); want != "" && want != got {
		return "", "", fmt.Errorf("module %s: sha256 %s does not match spec.wasm.sha256 %s", path, got, want)
	}
	return path, got, nil
}
