package source

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/trafficext/trafficext/xds/model"
)

const header = "apiVersion: extensions.istio.io/v1alpha1\nkind: TrafficExtension\n"

func TestDecode_Resources(t *testing.T) {
	in := `# leading comment
apiVersion: v1
kind: Secret
metadata: {name: s}
---
` + header + `metadata:
  name: one
  creationTimestamp: "2024-05-01T10:00:00Z"
  annotations: {trafficext.io/fail-strategy: FAIL_OPEN}
spec:
  phase: AUTHZ
  priority: 10
  selector: {matchLabels: {app: x}}
  match: [{mode: CLIENT, ports: [{number: 8080}]}]
  lua: {inlineCode: "function envoy_on_request(h) end"}
---
---
` + header + `metadata: {name: two, namespace: apps}
spec:
  wasm:
    url: file:///m.wasm
    failStrategy: FAIL_OPEN
    pluginConfig: {a: 1, b: [x]}
    vmConfig: {env: [{name: A, value: b}, {name: POD, valueFrom: HOST}]}
---
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {name: w}
`
	exts, notes, err := Decode("f.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(exts) != 3 {
		t.Fatalf("got %d extensions", len(exts))
	}
	// A WasmPlugin is converted (wasmplugin_test.go); this one has no spec.
	if w := exts[2]; w.Key.Name != "w~istio-translated-wasmplugin" || len(w.DecodeErrors) != 1 {
		t.Errorf("WasmPlugin = %v %v", w.Key, w.DecodeErrors)
	}
	one, two := exts[0], exts[1]
	if one.Key != (model.Key{Namespace: "default", Name: "one"}) || two.Key != (model.Key{Namespace: "apps", Name: "two"}) {
		t.Errorf("keys = %v, %v", one.Key, two.Key)
	}
	if len(one.DecodeErrors)+len(two.DecodeErrors) != 0 {
		t.Fatalf("decode errors: %v %v", one.DecodeErrors, two.DecodeErrors)
	}
	if !one.CreationTimestamp.Equal(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("creationTimestamp = %v", one.CreationTimestamp)
	}
	if one.Annotations["trafficext.io/fail-strategy"] != "FAIL_OPEN" {
		t.Errorf("annotations = %v", one.Annotations)
	}
	s := one.Spec
	if s.GetPhase().String() != "AUTHZ" || s.GetPriority().GetValue() != 10 || s.GetSelector().GetMatchLabels()["app"] != "x" ||
		s.GetMatch()[0].GetMode().String() != "CLIENT" || s.GetMatch()[0].GetPorts()[0].GetNumber() != 8080 ||
		s.GetLua().GetInlineCode() == "" {
		t.Errorf("spec = %v", s)
	}
	w := two.Spec.GetWasm()
	if w.GetUrl() != "file:///m.wasm" || w.GetFailStrategy().String() != "FAIL_OPEN" || len(w.GetVmConfig().GetEnv()) != 2 ||
		w.GetPluginConfig().GetFields()["a"].GetNumberValue() != 1 {
		t.Errorf("wasm = %v", w)
	}
	if one.Line != 6 || one.File != "f.yaml" {
		t.Errorf("origin = %s:%d", one.File, one.Line)
	}
	// A v1 Secret is not skipped: decodeSecrets reads it (image pull secrets).
	if len(notes) != 0 {
		t.Errorf("notes = %q", notes)
	}
	if one.ResourceVersion == "" || one.ResourceVersion == two.ResourceVersion {
		t.Errorf("resource versions %q %q", one.ResourceVersion, two.ResourceVersion)
	}
}

func TestDecode_ResourceVersionFollowsContent(t *testing.T) {
	doc := header + "metadata: {name: a}\nspec: {lua: {inlineCode: x}}\n"
	a, _, _ := Decode("a", []byte(doc))
	b, _, _ := Decode("b", []byte("# comment only changes\n"+doc))
	c, _, _ := Decode("c", []byte(strings.Replace(doc, "x}", "y}", 1)))
	if a[0].ResourceVersion != b[0].ResourceVersion {
		t.Error("a comment changed the resource version")
	}
	if a[0].ResourceVersion == c[0].ResourceVersion {
		t.Error("a code change kept the resource version")
	}
}

func TestDecode_JSON(t *testing.T) {
	in := `{"apiVersion": "extensions.istio.io/v1alpha1", "kind": "TrafficExtension",
	"metadata": {"name": "j"}, "spec": {"phase": "STATS", "lua": {"inlineCode": "x"}}}`
	exts, _, err := Decode("j.json", []byte(in))
	if err != nil || len(exts) != 1 || exts[0].Spec.GetPhase().String() != "STATS" {
		t.Fatalf("exts=%v err=%v", exts, err)
	}
}

func TestDecode_FileErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"syntax", header + "metadata:\n  name: [a\n", "bad.yaml: line "},
		{"indentation", header + "metadata:\n  name: a\n    x: y\n", "bad.yaml: default/a: line 5: mapping values are not allowed in this context"},
		{"names the resource", header + "metadata:\n  name: victim\n  namespace: istio-system\nspec:\n  lua:\n    inlineCode: \"open\n", "bad.yaml: istio-system/victim: line "},
		{"tab", "a:\n\t- b\n", "bad.yaml: line 2: found character that cannot start any token"},
		{"scalar document", "just text\n", "bad.yaml: line 1: document is not a mapping"},
		{"duplicate key", header + "metadata: {name: a}\nmetadata: {name: b}\n", `bad.yaml: line 4: mapping key "metadata" already defined at line 3`},
		{"no name", header + "metadata: {namespace: x}\nspec: {}\n", "bad.yaml: metadata.name: line 1: required"},
		{"second document broken", header + "metadata: {name: a}\nspec: {lua: {inlineCode: x}}\n---\nx: [\n", "bad.yaml: line "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exts, _, err := Decode("bad.yaml", []byte(tt.in))
			if err == nil {
				t.Fatalf("no error; exts = %v", exts)
			}
			if exts != nil {
				t.Errorf("a malformed file returned extensions")
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error = %q, want prefix %q", err, tt.want)
			}
		})
	}
}

func TestDecode_SpecErrors(t *testing.T) {
	tests := []struct {
		name, spec string
		want       []string
	}{
		{"unknown phase", "phase: AUTHX\nlua: {inlineCode: x}", []string{`bad.yaml: default/r: spec.phase: unknown value "AUTHX" (want one of UNSPECIFIED, AUTHN, AUTHZ, STATS)`}},
		{"unknown mode", "match: [{mode: BOTH}]\nlua: {inlineCode: x}", []string{`spec.match[0].mode: unknown value "BOTH"`}},
		{"unknown fail strategy", "wasm: {url: oci://x, failStrategy: CLOSE}", []string{`spec.wasm.failStrategy: unknown value "CLOSE"`}},
		{"unknown pull policy", "wasm: {url: oci://x, imagePullPolicy: Never}", []string{`spec.wasm.imagePullPolicy: unknown value "Never"`}},
		{"unknown valueFrom", "wasm: {url: oci://x, vmConfig: {env: [{name: a, valueFrom: ENV}]}}", []string{`spec.wasm.vmConfig.env[0].valueFrom: unknown value "ENV"`}},
		{"unknown field", "lua: {inlinecode: x}", []string{"spec.lua.inlinecode: unknown field"}},
		{"wrong type", "priority: high\nlua: {inlineCode: x}", []string{"spec.priority: must be an integer"}},
		{"fraction", "priority: 1.5\nlua: {inlineCode: x}", []string{"spec.priority: 1.5 is not an integer"}},
		{"out of int32", "priority: 3000000000\nlua: {inlineCode: x}", []string{"spec.priority: 3e+09 is out of range"}},
		{"port type", "match: [{ports: [{number: x}]}]\nlua: {inlineCode: x}", []string{"spec.match[0].ports[0].number: must be an integer"}},
		{"negative port", "match: [{ports: [{number: -1}]}]\nlua: {inlineCode: x}", []string{"spec.match[0].ports[0].number: -1 is out of range"}},
		{"list expected", "targetRefs: {kind: Gateway}\nlua: {inlineCode: x}", []string{"spec.targetRefs: must be a list"}},
		{"labels", "selector: {matchLabels: {a: 1}}\nlua: {inlineCode: x}", []string{"spec.selector.matchLabels[a]: must be a string"}},
		{"both bodies", "lua: {inlineCode: x}\nwasm: {url: oci://x}", []string{"spec: exactly one of wasm or lua must be set"}},
		{"two problems", "phase: X\nmatch: [{mode: Y}]\nlua: {inlineCode: x}", []string{"spec.match[0].mode: unknown value \"Y\"", "spec.phase: unknown value \"X\""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := header + "metadata: {name: r}\nspec:\n  " + strings.ReplaceAll(tt.spec, "\n", "\n  ") + "\n"
			exts, _, err := Decode("bad.yaml", []byte(in))
			if err != nil {
				t.Fatal(err)
			}
			e := exts[0]
			if e.Spec != nil {
				t.Error("spec decoded despite errors")
			}
			if len(e.DecodeErrors) != len(tt.want) {
				t.Fatalf("errors = %v, want %d", e.DecodeErrors, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(e.DecodeErrors[i].Error(), w) {
					t.Errorf("error %d = %q, want it to contain %q", i, e.DecodeErrors[i], w)
				}
			}
		})
	}
}

func TestDecode_MetadataErrors(t *testing.T) {
	in := header + "metadata: {name: r, creationTimestamp: yesterday, annotations: {a: [1]}}\nspec: {lua: {inlineCode: x}}\n"
	exts, _, err := Decode("m.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	got := exts[0].DecodeErrors
	if len(got) != 2 || got[0].Field != "metadata.creationTimestamp" || got[1].Field != "metadata.annotations[a]" {
		t.Errorf("errors = %v", got)
	}
}

func TestDecode_MissingSpec(t *testing.T) {
	exts, _, err := Decode("m.yaml", []byte(header+"metadata: {name: r}\n"))
	if err != nil || len(exts[0].DecodeErrors) != 1 || exts[0].DecodeErrors[0].Error() != "m.yaml: default/r: spec: required" {
		t.Fatalf("exts = %v, err = %v", exts[0].DecodeErrors, err)
	}
}

func TestDecode_OtherAPIVersion(t *testing.T) {
	exts, notes, err := Decode("v.yaml", []byte("apiVersion: extensions.istio.io/v2\nkind: TrafficExtension\nmetadata: {name: a}\n"))
	if err != nil || len(exts) != 0 || len(notes) != 1 || !strings.Contains(notes[0], `apiVersion "extensions.istio.io/v2"`) {
		t.Fatalf("exts=%v notes=%q err=%v", exts, notes, err)
	}
}

func TestLoadFS(t *testing.T) {
	fsys := fstest.MapFS{
		"a.yaml":    {Data: []byte(header + "metadata: {name: a}\nspec: {lua: {inlineCode: x}}\n")},
		"b.txt":     {Data: []byte("ignored")},
		".hidden.y": {Data: []byte("ignored")},
		"c.yml":     {Data: []byte("x: [")},
	}
	s, err := LoadFS(fsys, "examples")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Files) != 2 || s.Files[0].Path != "examples/a.yaml" || len(s.Extensions()) != 1 || len(s.Errors()) != 1 {
		t.Fatalf("snapshot = %+v", s)
	}
}
