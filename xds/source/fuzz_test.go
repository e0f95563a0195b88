package source_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/trafficext/trafficext/xds/source"
	"github.com/trafficext/trafficext/xds/validate"
)

// FuzzDecode feeds arbitrary bytes to the loader. It must never panic, and what it returns must
// be usable: a file error, or resources that each have a name and either a spec or the reasons
// there is none, and that validation accepts or rejects with positioned messages.
//
//	go test ./xds/source -run '^$' -fuzz FuzzDecode -fuzztime 30s
func FuzzDecode(f *testing.F) {
	for _, glob := range []string{"../../examples/*.yaml"} {
		files, _ := filepath.Glob(glob)
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte("apiVersion: extensions.istio.io/v1alpha1\nkind: TrafficExtension\nmetadata: {name: a}\nspec: {lua: {inlineCode: 'x'}, match: [null, {ports: [{number: 1e99}]}]}\n"))
	f.Add([]byte(`{"apiVersion":"extensions.istio.io/v1alpha1","kind":"TrafficExtension","metadata":{"name":"j"},"spec":{"wasm":{"url":"oci://x","pluginConfig":{"a":[1,null]}}}}`))
	f.Add([]byte("apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata: {name: w, namespace: ns}\nspec: {url: oci://x, phase: AUTHZ, targetRef: {kind: Gateway, group: gateway.networking.k8s.io, name: g}}\n"))
	f.Add([]byte("---\n- 1\n---\n&a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		exts, _, err := source.Decode("fuzz.yaml", data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		for _, e := range exts {
			if e.Name == "" || e.Namespace == "" {
				t.Fatalf("resource without a key: %+v", e.Key)
			}
			if e.Spec == nil && len(e.DecodeErrors) == 0 {
				t.Fatalf("%s: no spec and no decode error", e.Key)
			}
			problems := validate.Extension(e, validate.Options{})
			if e.Spec == nil && !validate.HasErrors(problems) {
				t.Fatalf("%s: no spec but valid", e.Key)
			}
			for _, p := range problems {
				if p.Key != e.Key {
					t.Fatalf("problem %q names %s, want %s", p, p.Key, e.Key)
				}
			}
		}
	})
}
