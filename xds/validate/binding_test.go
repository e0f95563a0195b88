package validate_test

import (
	"strings"
	"testing"

	"github.com/trafficext/trafficext/xds/translate"
	"github.com/trafficext/trafficext/xds/validate"
)

// TestExtension_GolangBinding: with --binding golang, Lua calls the golang filter cannot host
// are errors naming the resource, the field, the line and the reason; other bindings accept
// them, and Wasm is not restricted.
func TestExtension_GolangBinding(t *testing.T) {
	lua := func(code string) string {
		return "lua:\n  inlineCode: |\n    " + strings.ReplaceAll(code, "\n", "\n    ") + "\n"
	}
	wasm := "wasm: {url: oci://ghcr.io/a/b:1, sha256: " + strings.Repeat("a", 64) + "}"
	tests := []struct {
		name    string
		binding translate.Binding
		spec    string
		want    []string // substrings of the errors, in order
	}{
		{"httpCall", translate.Golang, lua("function envoy_on_request(h)\n  local hs, body = h:httpCall('authz', {[':method']='GET'}, '', 100)\nend"),
			[]string{"examples/bad.yaml: default/parity: spec.lua.inlineCode: line 2: httpCall() is not available with the golang binding: the golang filter has no HTTP callout API"}},
		{"httpCall in a nested function", translate.Golang, lua("function envoy_on_request(h)\n  local f = function()\n    if true then\n      return h.httpCall(h, 'c', {}, '', 1)\n    end\n  end\n  f()\nend"),
			[]string{"spec.lua.inlineCode: line 4: httpCall() is not available with the golang binding"}},
		{"httpCall by index", translate.Golang, lua("function envoy_on_request(h)\n  h['httpCall'](h, 'c', {}, '', 1)\nend"),
			[]string{"line 2: httpCall()"}},
		{"route metadata", translate.Golang, lua("function envoy_on_request(h)\n  h:headers():add('x', h:route():metadata():get('k'))\nend"),
			[]string{"spec.lua.inlineCode: line 2: metadata() is not available with the golang binding: the golang filter gives Go no route or virtual-host metadata"}},
		{"both, each once", translate.Golang, lua("function envoy_on_request(h)\n  h:metadata():get('a')\n  h:httpCall('c', {}, '', 1)\n  h:metadata():get('b')\nend"),
			[]string{"line 2: metadata()", "line 3: httpCall()"}},
		{"dynamic metadata is fine", translate.Golang, lua("function envoy_on_request(h)\n  h:streamInfo():dynamicMetadata():set('ns', 'k', 'v')\nend"), nil},
		{"a field named metadata is not a call", translate.Golang, lua("local t = {metadata = 1}\nt.metadata = 2\nfunction envoy_on_request(h) end"), nil},
		{"dynamic modules host httpCall", translate.DynamicModules, lua("function envoy_on_request(h)\n  h:httpCall('c', {}, '', 1)\nend"), nil},
		{"default binding hosts httpCall", "", lua("function envoy_on_request(h)\n  h:httpCall('c', {}, '', 1)\nend"), nil},
		{"wasm under golang", translate.Golang, wasm, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			probs := validate.Extension(decode(t, "default", "", tc.spec), validate.Options{Binding: tc.binding})
			errs, _ := validate.Split(probs)
			if len(errs) != len(tc.want) {
				t.Fatalf("errors = %v, want %d like %q", errs, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("error %d = %q, want it to contain %q", i, errs[i].Error(), w)
				}
			}
		})
	}
}
