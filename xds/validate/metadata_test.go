package validate_test

import (
	"strings"
	"testing"

	"github.com/trafficext/trafficext/xds/source"
	"github.com/trafficext/trafficext/xds/validate"
)

func TestExtension_Metadata(t *testing.T) {
	tests := []struct {
		name, kind, metaName, namespace string
		// want are substrings of the errors, in order.
		want []string
	}{
		{name: "valid", metaName: "parity", namespace: "default"},
		{name: "dots and dashes", metaName: "a.b-c.d9", namespace: "team-a"},
		{name: "name at 253", metaName: strings.Repeat("a", 253), namespace: "default"},
		{name: "unicode name", metaName: "ünïcödé", namespace: "default",
			want: []string{`n.yaml: default/ünïcödé: metadata.name: "ünïcödé": a lowercase RFC 1123 subdomain must consist of`}},
		{name: "path name", metaName: "../../etc/passwd", namespace: "default",
			want: []string{`default/../../etc/passwd: metadata.name: "../../etc/passwd": a lowercase RFC 1123 subdomain`}},
		{name: "space in name", metaName: "'a b'", namespace: "default", want: []string{`metadata.name: "a b": a lowercase RFC 1123`}},
		{name: "upper-case name", metaName: "Parity", namespace: "default", want: []string{`metadata.name: "Parity"`}},
		{name: "name 300 long", metaName: strings.Repeat("a", 300), namespace: "default",
			want: []string{`metadata.name: "` + strings.Repeat("a", 64) + `"... (300 characters): must be no more than 253 characters`}},
		{name: "unicode namespace", metaName: "parity", namespace: "ünï", want: []string{`ünï/parity: metadata.namespace: "ünï": a lowercase RFC 1123 label must consist of`}},
		{name: "dotted namespace", metaName: "parity", namespace: "a.b", want: []string{`metadata.namespace: "a.b": must not contain dots`}},
		{name: "namespace 64 long", metaName: "parity", namespace: strings.Repeat("n", 64), want: []string{"metadata.namespace: \"" + strings.Repeat("n", 64) + "\": must be no more than 63 characters"}},
		{name: "both bad", metaName: "'a b'", namespace: "A", want: []string{"metadata.name:", "metadata.namespace:"}},
		// A WasmPlugin's converted name carries a suffix of ours; its own name is what counts.
		{name: "wasmplugin valid", kind: "WasmPlugin", metaName: "openid", namespace: "default"},
		{name: "wasmplugin bad name", kind: "WasmPlugin", metaName: "open_id", namespace: "default",
			want: []string{`default/open_id~istio-translated-wasmplugin: metadata.name: "open_id": a lowercase RFC 1123 subdomain`}},
		{name: "wasmplugin bad namespace", kind: "WasmPlugin", metaName: "openid", namespace: "a/b", want: []string{`metadata.namespace: "a/b"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, spec := "TrafficExtension", "spec: {lua: {inlineCode: 'function envoy_on_request(h) end'}}\n"
			if tt.kind != "" {
				kind, spec = tt.kind, "spec: {url: 'oci://x/y:1'}\n"
			}
			in := "apiVersion: extensions.istio.io/v1alpha1\nkind: " + kind + "\nmetadata:\n  name: " + tt.metaName +
				"\n  namespace: " + tt.namespace + "\n" + spec
			exts, _, err := source.Decode("n.yaml", []byte(in))
			if err != nil || len(exts) != 1 {
				t.Fatalf("decode: %v %v", exts, err)
			}
			errs, _ := validate.Split(validate.Extension(exts[0], validate.Options{}))
			if len(errs) != len(tt.want) {
				t.Fatalf("errors = %v, want %q", errs, tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("error %d = %q, want it to contain %q", i, errs[i], w)
				}
			}
		})
	}
}
