package validate_test

import (
	"strings"
	"testing"

	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/source"
	"github.com/trafficext/trafficext/xds/validate"
)

const okLua = "lua: {inlineCode: 'function envoy_on_request(h) end'}"

func decode(t *testing.T, ns, meta, spec string) *model.Extension {
	t.Helper()
	in := "apiVersion: extensions.istio.io/v1alpha1\nkind: TrafficExtension\nmetadata:\n  name: parity\n  namespace: " + ns + "\n"
	if meta != "" {
		in += "  " + meta + "\n"
	}
	in += "spec:\n  " + strings.ReplaceAll(spec, "\n", "\n  ") + "\n"
	exts, _, err := source.Decode("examples/bad.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	return exts[0]
}

func TestExtension_Rules(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct {
		name string
		ns   string // default "default"
		meta string
		spec string
		// want are substrings of the errors, in order; warn of the warnings.
		want []string
		warn []string
	}{
		{name: "valid lua", spec: okLua},
		{name: "valid wasm", spec: "wasm: {url: oci://ghcr.io/a/b:1, sha256: " + strings.Repeat("a", 64) + "}"},
		{name: "scheme-less wasm url", spec: "wasm: {url: ghcr.io/org/img:tag}"},
		{name: "neither body", spec: "phase: AUTHN", want: []string{"examples/bad.yaml: default/parity: spec: exactly one of wasm or lua must be set"}},
		{name: "both bodies", spec: okLua + "\nwasm: {url: oci://x}", want: []string{"default/parity: spec: exactly one of wasm or lua must be set"}},
		{name: "unknown phase", spec: "phase: AUTHX\n" + okLua, want: []string{`examples/bad.yaml: default/parity: spec.phase: unknown value "AUTHX"`}},
		{name: "empty lua", spec: "lua: {inlineCode: ''}", want: []string{"spec.lua.inlineCode: required"}},
		{name: "lua too long", spec: "lua: {inlineCode: '" + strings.Repeat("-", 65537) + "'}", want: []string{"spec.lua.inlineCode: 65537 bytes exceeds the limit of 65536"}},
		{name: "lua at limit", spec: "lua: {inlineCode: 'function envoy_on_request(h) end" + strings.Repeat(" ", 65536-32) + "'}"},
		{name: "lua syntax", spec: "lua:\n  inlineCode: |\n    function envoy_on_request(h)\n      local x = 1\n      if then\n    end\n",
			want: []string{"examples/bad.yaml: default/parity: spec.lua.inlineCode: line 3: near 'then': syntax error"}},
		{name: "lua unterminated string", spec: "lua:\n  inlineCode: |\n    x = 'abc\n", want: []string{"near 'abc': unterminated string"}},
		{name: "lua without handler", spec: "lua: {inlineCode: 'local x = 1'}", warn: []string{"spec.lua.inlineCode: warning: defines neither envoy_on_request nor envoy_on_response"}},
		{name: "lua handler by assignment", spec: "lua: {inlineCode: 'envoy_on_response = function(h) end'}"},
		{name: "selector and targetRefs", spec: "selector: {matchLabels: {a: b}}\ntargetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: g}]\n" + okLua,
			want: []string{"spec: only one of targetRefs or selector can be set"}},
		{name: "empty selector", spec: "selector: {}\n" + okLua, warn: []string{"spec.selector: warning: no labels"}},
		{name: "wildcard label key", spec: "selector: {matchLabels: {'a*': b}}\n" + okLua, want: []string{"spec.selector.matchLabels[a*]: wildcard not allowed in label key match"}},
		{name: "wildcard label value", spec: "selector: {matchLabels: {a: 'b*'}}\n" + okLua, want: []string{"spec.selector.matchLabels[a]: wildcard not allowed in label value match"}},
		{name: "empty label key", spec: "selector: {matchLabels: {'': b}}\n" + okLua, want: []string{"spec.selector.matchLabels: key must not be empty"}},
		{name: "long label value", spec: "selector: {matchLabels: {a: " + strings.Repeat("v", 64) + "}}\n" + okLua, want: []string{"spec.selector.matchLabels[a]: value is 64 characters long"}},
		{name: "target gateway", spec: "targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: g}]\n" + okLua},
		{name: "target service core", spec: "targetRefs: [{kind: Service, name: s}, {kind: Service, group: core, name: s2}]\n" + okLua},
		{name: "target service entry", spec: "targetRefs: [{kind: ServiceEntry, group: networking.istio.io, name: s}]\n" + okLua},
		{name: "target gatewayclass root", ns: "istio-system", spec: "targetRefs: [{kind: GatewayClass, group: gateway.networking.k8s.io, name: istio-waypoint}]\n" + okLua},
		{name: "target gatewayclass other name", ns: "istio-system", spec: "targetRefs: [{kind: GatewayClass, group: gateway.networking.k8s.io, name: other}]\n" + okLua,
			warn: []string{"spec.targetRefs[0].name: warning: only GatewayClass \"istio-waypoint\""}},
		{name: "target gatewayclass outside root", spec: "targetRefs: [{kind: GatewayClass, group: gateway.networking.k8s.io, name: istio-waypoint}]\n" + okLua,
			warn: []string{`spec.targetRefs[0]: warning: GatewayClass targets apply only from the root namespace "istio-system": this one selects no proxy`}},
		{name: "target unsupported kind", spec: "targetRefs: [{kind: Deployment, group: apps, name: d}]\n" + okLua, want: []string{"spec.targetRefs[0]: unsupported target Deployment"}},
		{name: "target gateway wrong group", spec: "targetRefs: [{kind: Gateway, group: networking.istio.io, name: d}]\n" + okLua, want: []string{"spec.targetRefs[0]: unsupported target Gateway"}},
		{name: "target cross namespace", spec: "targetRefs: [{kind: Service, name: s, namespace: other}]\n" + okLua, want: []string{"spec.targetRefs[0].namespace: cross namespace referencing is not currently supported"}},
		{name: "target without name", spec: "targetRefs: [{kind: Service}]\n" + okLua, want: []string{"spec.targetRefs[0].name: required"}},
		{name: "target without kind", spec: "targetRefs: [{name: s}]\n" + okLua, want: []string{"spec.targetRefs[0].kind: required"}},
		{name: "target bad kind", spec: "targetRefs: [{kind: '1x', name: s}]\n" + okLua, want: []string{`spec.targetRefs[0].kind: "1x" is not a valid kind`}},
		{name: "target bad group", spec: "targetRefs: [{kind: Service, group: 'Core', name: s}]\n" + okLua, want: []string{`spec.targetRefs[0].group: "Core" is not a valid API group`, "spec.targetRefs[0]: unsupported target Service"}},
		{name: "target long name", spec: "targetRefs: [{kind: Service, name: " + long + "}]\n" + okLua, want: []string{"spec.targetRefs[0].name: longer than 253"}},
		{name: "too many targets", spec: "targetRefs: [" + strings.Repeat("{kind: Service, name: s},", 17) + "]\n" + okLua, want: []string{"spec.targetRefs: 17 entries exceed the limit of 16"}},
		{name: "port zero", spec: "match: [{ports: [{number: 0}]}]\n" + okLua, want: []string{"spec.match[0].ports[0].number: 0 is out of range 1..65535"}},
		{name: "port too big", spec: "match: [{mode: SERVER, ports: [{number: 65536}]}]\n" + okLua, want: []string{"spec.match[0].ports[0].number: 65536 is out of range 1..65535"}},
		{name: "port duplicate", spec: "match: [{ports: [{number: 80}, {number: 80}]}]\n" + okLua, want: []string{"spec.match[0].ports[1].number: duplicate port 80"}},
		{name: "ports ok", spec: "match: [{mode: CLIENT, ports: [{number: 1}, {number: 65535}]}]\n" + okLua},
		{name: "wasm url required", spec: "wasm: {sha256: ''}", want: []string{"spec.wasm.url: required"}},
		{name: "wasm url scheme", spec: "wasm: {url: 'ftp://x/y.wasm'}", want: []string{"spec.wasm.url: url must have schema one of [http, https, file, oci]"}},
		{name: "wasm url schemes ok", spec: "wasm: {url: 'https://x/y.wasm'}"},
		{name: "wasm file url", spec: "wasm: {url: 'file:///opt/filters/openid.wasm'}"},
		{name: "wasm sha256 upper", spec: "wasm: {url: oci://x, sha256: " + strings.Repeat("A", 64) + "}", want: []string{"spec.wasm.sha256: \"" + strings.Repeat("A", 64) + "\" must be 64 lower-case hex"}},
		{name: "wasm sha256 short", spec: "wasm: {url: oci://x, sha256: abc}", want: []string{"spec.wasm.sha256: \"abc\" must be 64"}},
		{name: "wasm digest mismatch", spec: "wasm: {url: 'oci://x@sha256:" + strings.Repeat("b", 64) + "', sha256: " + strings.Repeat("a", 64) + "}", want: []string{"does not match the digest"}},
		{name: "wasm digest match", spec: "wasm: {url: 'oci://x@sha256:" + strings.Repeat("b", 64) + "', sha256: " + strings.Repeat("b", 64) + "}"},
		{name: "wasm pull secret long", spec: "wasm: {url: oci://x, imagePullSecret: " + long + "}", want: []string{"spec.wasm.imagePullSecret: longer than 253"}},
		{name: "wasm plugin name long", spec: "wasm: {url: oci://x, pluginName: " + long + "}", want: []string{"spec.wasm.pluginName: longer than 256"}},
		{name: "wasm env host with value", spec: "wasm: {url: oci://x, vmConfig: {env: [{name: A, valueFrom: HOST, value: v}]}}", want: []string{"spec.wasm.vmConfig.env[0].value: value may only be set when valueFrom is INLINE"}},
		{name: "wasm env duplicate", spec: "wasm: {url: oci://x, vmConfig: {env: [{name: A, value: v}, {name: A}]}}", want: []string{`spec.wasm.vmConfig.env[1].name: duplicate name "A"`}},
		{name: "wasm env no name", spec: "wasm: {url: oci://x, vmConfig: {env: [{value: v}]}}", want: []string{"spec.wasm.vmConfig.env[0].name: required"}},
		{name: "wasm env ok", spec: "wasm: {url: oci://x, vmConfig: {env: [{name: POD_NAME, valueFrom: HOST}, {name: TRUST_DOMAIN, value: cluster.local}]}}"},
		{name: "wasm network", spec: "wasm: {url: oci://x, type: NETWORK}"},
		{name: "wasm network bad digest", spec: "wasm: {url: oci://x, type: NETWORK, sha256: abc}", want: []string{`default/parity: spec.wasm.sha256: "abc" must be 64`}},
		{name: "wasm verification key", spec: "wasm: {url: oci://x, verificationKey: k}", warn: []string{"spec.wasm.verificationKey: warning: not implemented"}},
		{name: "fail strategy annotation", meta: "annotations: {trafficext.io/fail-strategy: FAIL_OPEN}", spec: okLua},
		{name: "fail strategy annotation unknown", meta: "annotations: {trafficext.io/fail-strategy: FAIL_RELOAD}", spec: okLua,
			want: []string{`metadata.annotations[trafficext.io/fail-strategy]: unknown value "FAIL_RELOAD" (want FAIL_CLOSE or FAIL_OPEN)`}},
		{name: "fail strategy annotation on wasm", meta: "annotations: {trafficext.io/fail-strategy: FAIL_OPEN}", spec: "wasm: {url: oci://x}",
			warn: []string{"warning: ignored for Wasm extensions"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := tt.ns
			if ns == "" {
				ns = "default"
			}
			e := decode(t, ns, tt.meta, tt.spec)
			errs, warns := validate.Split(validate.Extension(e, validate.Options{}))
			check := func(kind string, got []*model.Error, want []string) {
				if len(got) != len(want) {
					t.Fatalf("%s = %v, want %q", kind, got, want)
				}
				for i := range want {
					if !strings.Contains(got[i].Error(), want[i]) {
						t.Errorf("%s %d = %q, want it to contain %q", kind, i, got[i], want[i])
					}
				}
			}
			check("errors", errs, tt.want)
			check("warnings", warns, tt.warn)
			if validate.HasErrors(validate.Extension(e, validate.Options{})) != (len(tt.want) > 0) {
				t.Error("HasErrors disagrees")
			}
		})
	}
}

func TestExtension_RootNamespaceOption(t *testing.T) {
	e := decode(t, "mesh", "", "targetRefs: [{kind: GatewayClass, group: gateway.networking.k8s.io, name: istio-waypoint}]\n"+okLua)
	if p := validate.Extension(e, validate.Options{RootNamespace: "mesh"}); len(p) != 0 {
		t.Fatalf("problems = %v", p)
	}
}
