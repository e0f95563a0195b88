package fetchtest

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/trafficext/trafficext/xds/fetch"
	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/source"
)

// Push pushes mod as an image of the given layout to ref (host/repo:tag) and returns its
// manifest digest without the "sha256:" prefix.
func Push(t *testing.T, ref string, mod []byte, layout fetch.Layout) string {
	t.Helper()
	img, err := fetch.Image(mod, layout)
	if err != nil {
		t.Fatal(err)
	}
	d, err := fetch.Push(context.Background(), ref, img, fetch.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(d, "sha256:")
}

// NewFetcher is a fetcher over dir (a temporary one when empty) with short retries; edit
// adjusts the options first.
func NewFetcher(t *testing.T, dir string, edit ...func(*fetch.Options)) *fetch.Fetcher {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	o := fetch.Options{CacheDir: dir, Backoff: time.Millisecond, Attempts: 3, Timeout: 10 * time.Second, RequestTimeout: 5 * time.Second}
	for _, e := range edit {
		e(&o)
	}
	f, err := fetch.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// ReadFile is os.ReadFile failing the test.
func ReadFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Extension decodes a TrafficExtension ns/name at resourceVersion rv whose spec.wasm holds
// the YAML lines of wasm.
func Extension(t *testing.T, ns, name, rv, wasm string) *model.Extension {
	t.Helper()
	var b strings.Builder
	b.WriteString("apiVersion: extensions.istio.io/v1alpha1\nkind: TrafficExtension\nmetadata: {name: " + name + ", namespace: " + ns + "}\nspec:\n  wasm:\n")
	for _, l := range strings.Split(wasm, "\n") {
		b.WriteString("    " + l + "\n")
	}
	exts, _, err := source.Decode("test.yaml", []byte(b.String()))
	if err != nil || len(exts) != 1 || len(exts[0].DecodeErrors) > 0 {
		t.Fatalf("decoding: %v %v", err, exts)
	}
	exts[0].ResourceVersion = rv
	return exts[0]
}
