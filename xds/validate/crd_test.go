package validate_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/trafficext/trafficext/xds/source"
	"github.com/trafficext/trafficext/xds/validate"
)

// TestExtension_CRDRules covers the rules of the CRD schema that
// TestExtension_Rules does not: every enum, the nullable int32 priority, the remaining length
// and count limits, required fields inside lists, and null list entries (the webhook). Each
// message names the file, the resource and the field.
func TestExtension_CRDRules(t *testing.T) {
	labels := func(n int) string {
		var b strings.Builder
		b.WriteString("selector: {matchLabels: {")
		for i := range n {
			fmt.Fprintf(&b, "k%d: v,", i)
		}
		b.WriteString("}}\n")
		return b.String()
	}
	env := func(n int) string {
		var b strings.Builder
		b.WriteString("wasm: {url: oci://x, vmConfig: {env: [")
		for i := range n {
			fmt.Fprintf(&b, "{name: E%d},", i)
		}
		b.WriteString("]}}")
		return b.String()
	}
	const where = "examples/bad.yaml: default/parity: "
	tests := []struct {
		name, spec, want string // want "" means valid
	}{
		{"phase enum", "phase: LATE\n" + okLua, where + `spec.phase: unknown value "LATE" (want one of UNSPECIFIED, AUTHN, AUTHZ, STATS)`},
		{"phase by number", "phase: 2\n" + okLua, ""},
		{"match mode enum", "match: [{mode: INBOUND}]\n" + okLua, where + `spec.match[0].mode: unknown value "INBOUND" (want one of UNDEFINED, CLIENT, SERVER, CLIENT_AND_SERVER)`},
		{"failStrategy enum", "wasm: {url: oci://x, failStrategy: FAIL_SOFT}", where + `spec.wasm.failStrategy: unknown value "FAIL_SOFT" (want one of FAIL_CLOSE, FAIL_OPEN, FAIL_RELOAD)`},
		{"imagePullPolicy enum", "wasm: {url: oci://x, imagePullPolicy: Never}", where + `spec.wasm.imagePullPolicy: unknown value "Never" (want one of UNSPECIFIED_POLICY, IfNotPresent, Always)`},
		{"type enum", "wasm: {url: oci://x, type: TCP}", where + `spec.wasm.type: unknown value "TCP" (want one of UNSPECIFIED_PLUGIN_TYPE, HTTP, NETWORK)`},
		{"valueFrom enum", "wasm: {url: oci://x, vmConfig: {env: [{name: A, valueFrom: FILE}]}}", where + `spec.wasm.vmConfig.env[0].valueFrom: unknown value "FILE" (want one of INLINE, HOST)`},
		{"priority int32 max", "priority: 2147483647\n" + okLua, ""},
		{"priority int32 min", "priority: -2147483648\n" + okLua, ""},
		{"priority out of int32", "priority: 2147483648\n" + okLua, where + "spec.priority: 2.147483648e+09 is out of range"},
		{"priority null is unset", "priority: null\n" + okLua, ""},
		{"priority not an integer", "priority: 1.5\n" + okLua, where + "spec.priority: 1.5 is not an integer"},
		{"unknown field", "phases: AUTHN\n" + okLua, where + "spec.phases: unknown field"},
		{"port number required", "match: [{ports: [{}]}]\n" + okLua, where + "spec.match[0].ports[0].number: 0 is out of range 1..65535"},
		{"port number negative", "match: [{ports: [{number: -1}]}]\n" + okLua, where + "spec.match[0].ports[0].number: -1 is out of range"},
		{"null match entry", "match: [null]\n" + okLua, where + "spec.match[0]: must not be null"},
		{"matchLabels at 4096", labels(4096) + okLua, ""},
		{"matchLabels over 4096", labels(4097) + okLua, where + "spec.selector.matchLabels: 4097 entries exceed the limit of 4096"},
		{"label value at 63", "selector: {matchLabels: {a: " + strings.Repeat("v", 63) + "}}\n" + okLua, ""},
		{"group at 253", "targetRefs: [{kind: Gateway, group: " + strings.Repeat("a", 253) + ", name: g}]\n" + okLua, where + "spec.targetRefs[0]: unsupported target Gateway"},
		{"group over 253", "targetRefs: [{kind: Gateway, group: " + strings.Repeat("a", 254) + ", name: g}]\n" + okLua, where + "spec.targetRefs[0].group: \"" + strings.Repeat("a", 254) + "\" is not a valid API group"},
		{"kind over 63", "targetRefs: [{kind: " + strings.Repeat("K", 64) + ", name: g}]\n" + okLua, where + "spec.targetRefs[0].kind: \"" + strings.Repeat("K", 64) + "\" is not a valid kind"},
		{"name at 253", "targetRefs: [{kind: Service, name: " + strings.Repeat("n", 253) + "}]\n" + okLua, ""},
		{"targetRefs at 16", "targetRefs: [" + strings.Repeat("{kind: Service, name: s},", 16) + "]\n" + okLua, ""},
		{"env at 256", env(256), ""},
		{"env over 256", env(257), where + "spec.wasm.vmConfig.env: 257 entries exceed the limit of 256"},
		{"env name over 256", "wasm: {url: oci://x, vmConfig: {env: [{name: " + strings.Repeat("N", 257) + "}]}}", where + "spec.wasm.vmConfig.env[0].name: longer than 256 characters"},
		{"env value at 2048", "wasm: {url: oci://x, vmConfig: {env: [{name: A, value: " + strings.Repeat("v", 2048) + "}]}}", ""},
		{"env value over 2048", "wasm: {url: oci://x, vmConfig: {env: [{name: A, value: " + strings.Repeat("v", 2049) + "}]}}", where + "spec.wasm.vmConfig.env[0].value: longer than 2048 characters"},
		{"env INLINE with value", "wasm: {url: oci://x, vmConfig: {env: [{name: A, valueFrom: INLINE, value: v}]}}", ""},
		{"pull secret at 253", "wasm: {url: oci://x, imagePullSecret: " + strings.Repeat("s", 253) + "}", ""},
		{"plugin name at 256", "wasm: {url: oci://x, pluginName: " + strings.Repeat("p", 256) + "}", ""},
		{"pluginConfig must be an object", "wasm: {url: oci://x, pluginConfig: [1]}", where + "spec.wasm.pluginConfig: must be an object"},
		{"pluginConfig any object", "wasm: {url: oci://x, pluginConfig: {a: [1, {b: null}]}}", ""},
		{"url with spaces does not parse", "wasm: {url: 'http://a b/%zz'}", where + "spec.wasm.url: \"http://a b/%zz\" is not a valid URL"},
		{"url scheme in upper case", "wasm: {url: 'OCI://x/y'}", ""},
		{"url without scheme, with path", "wasm: {url: 'ghcr.io/org/img@sha256:" + strings.Repeat("c", 64) + "'}", ""},
		// As Istio (webhook and CEL): "host:port/..." parses as a URL of scheme "host".
		{"url host:port without scheme", "wasm: {url: 'registry:5000/org/img'}", where + "spec.wasm.url: url must have schema one of [http, https, file, oci]"},
		{"lua must be an object", "lua: 'x'", where + "spec.lua: must be an object"},
		{"spec must be an object", "", where + "spec: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := decode(t, "default", "", tt.spec)
			errs, _ := validate.Split(validate.Extension(e, validate.Options{}))
			switch {
			case tt.want == "" && len(errs) > 0:
				t.Fatalf("errors = %v, want none", errs)
			case tt.want != "" && len(errs) == 0:
				t.Fatalf("no error, want %q", tt.want)
			case tt.want != "" && !strings.HasPrefix(errs[0].Error(), tt.want):
				t.Fatalf("error = %q\nwant prefix %q", errs[0], tt.want)
			}
		})
	}
}

func TestExtension_NullLabelValue(t *testing.T) {
	e := decode(t, "default", "", "selector: {matchLabels: {app: null}}\n"+okLua)
	errs, _ := validate.Split(validate.Extension(e, validate.Options{}))
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "default/parity: spec.selector.matchLabels[app]: must not be null") {
		t.Fatalf("errors = %v", errs)
	}
}

func TestExtension_WasmPluginFieldNames(t *testing.T) {
	in := "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata: {name: w, namespace: apps}\n" +
		"spec: {url: 'ftp://x', sha256: abc, selector: {matchLabels: {a: b}}, targetRef: {kind: Gateway, group: gateway.networking.k8s.io, name: g}}\n"
	exts, _, err := source.Decode("w.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	errs, _ := validate.Split(validate.Extension(exts[0], validate.Options{}))
	want := []string{
		"w.yaml: apps/w~istio-translated-wasmplugin: spec.url: url must have schema one of [http, https, file, oci]",
		`w.yaml: apps/w~istio-translated-wasmplugin: spec.sha256: "abc" must be 64 lower-case hex characters`,
		"w.yaml: apps/w~istio-translated-wasmplugin: spec: only one of targetRefs or selector can be set",
	}
	if len(errs) != len(want) {
		t.Fatalf("errors = %v", errs)
	}
	for i := range want {
		if errs[i].Error() != want[i] {
			t.Errorf("error %d = %q\nwant %q", i, errs[i], want[i])
		}
	}
}
