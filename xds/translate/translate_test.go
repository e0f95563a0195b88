package translate_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/trafficext/trafficext/extconfig"
	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/proxyid"
	"github.com/trafficext/trafficext/xds/source"
	"github.com/trafficext/trafficext/xds/translate"
	"github.com/trafficext/trafficext/xds/validate"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

var ingress = proxyid.Identity{
	ID: "ingress", Mode: proxyid.Gateway, Namespace: "istio-system",
	Labels:      map[string]string{"istio": "ingressgateway", "app": "istio-ingressgateway"},
	GatewayName: "ingressgateway",
}

func load(t *testing.T, file string) []*model.Extension {
	t.Helper()
	f := source.LoadFile(filepath.Join("testdata", file))
	if f.Err != nil {
		t.Fatal(f.Err)
	}
	for _, e := range f.Extensions {
		if errs, _ := validate.Split(validate.Extension(e, validate.Options{})); len(errs) > 0 {
			t.Fatalf("invalid test input: %v", errs)
		}
	}
	return f.Extensions
}

// render turns a result into stable, readable YAML (protojson's whitespace is randomised, so
// it is normalised through encoding/json).
func render(t *testing.T, res *translate.Result) []byte {
	t.Helper()
	out := map[string]any{"chain": res.Chain}
	var problems []string
	for _, p := range res.Problems {
		problems = append(problems, p.Error())
	}
	out["problems"] = problems
	add := func(key string, msgs ...proto.Message) {
		var list []any
		for _, m := range msgs {
			b, err := protojson.MarshalOptions{Resolver: networkResolver{}}.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatal(err)
			}
			list = append(list, v)
		}
		out[key] = list
	}
	var lds, rds, cds []proto.Message
	for _, l := range res.Listeners {
		lds = append(lds, l)
	}
	for _, r := range res.Routes {
		rds = append(rds, r)
	}
	for _, c := range res.Clusters {
		cds = append(cds, c)
	}
	add("listeners", lds...)
	add("routes", rds...)
	add("clusters", cds...)
	var ecds []proto.Message
	for _, c := range res.ExtensionConfigs {
		ecds = append(ecds, c)
	}
	add("extensionConfigs", ecds...)
	j, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.JSONToYAML(j)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

func TestProxy_Golden(t *testing.T) {
	tests := []struct {
		name  string
		input string
		id    proxyid.Identity
		opts  translate.Options
		chain []string // expected chain (names without the prefix)
	}{
		{"phase321", "phase321.yaml", ingress, translate.Options{},
			[]string{"istio-system.lua-phase-authn", "istio-system.lua-phase-authz", "istio-system.lua-phase-stats"}},
		{"priority", "priority.yaml", ingress, translate.Options{},
			[]string{"istio-system.openid-missing", "istio-system.acl-check", "istio-system.check-header", "istio-system.tie-b", "istio-system.negative", "istio-system.unset"}},
		{"golang", "golang.yaml", proxyid.Identity{ID: "gw", Mode: proxyid.Gateway, Namespace: "istio-system", Upstream: "echo.local:9000"},
			translate.Options{Binding: translate.Golang, MatchPort: 8080, ListenerAddress: "0.0.0.0:8080", ListenerName: "http-8080"},
			[]string{"istio-system.parity"}},
		{"nothing", "nothing.yaml", ingress, translate.Options{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := translate.Proxy(tt.id, load(t, tt.input), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var chain []string
			for _, c := range res.Chain {
				chain = append(chain, strings.TrimPrefix(c, model.ResourceNamePrefix))
			}
			if strings.Join(chain, " ") != strings.Join(tt.chain, " ") {
				t.Errorf("chain = %v\nwant    %v", chain, tt.chain)
			}
			got := render(t, res)
			golden := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./xds/... -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the output; run go test ./xds/translate -update and review the diff\n%s", golden, got)
			}
		})
	}
}

func TestProxy_Deterministic(t *testing.T) {
	exts := load(t, "priority.yaml")
	a, err := translate.Proxy(ingress, exts, translate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		b, _ := translate.Proxy(ingress, exts, translate.Options{})
		if !bytes.Equal(render(t, a), render(t, b)) {
			t.Fatal("translation is not deterministic")
		}
	}
}

func TestMessage(t *testing.T) {
	exts := load(t, "priority.yaml")
	by := map[string]*model.Extension{}
	for _, e := range exts {
		by[e.Name] = e
	}
	m, p := translate.Message(by["acl-check"], nil)
	if p != nil || m.Wasm == nil || m.Wasm.Path != "testdata/module.wasm" || len(m.Wasm.SHA256) != 64 ||
		string(m.Wasm.PluginConfig) != `{"allow":["alice"],"mode":"strict"}` || m.Wasm.Env["TRUST_DOMAIN"] != "cluster.local" ||
		m.FailStrategy != extconfig.FailClose || m.Generation != by["acl-check"].ResourceVersion {
		t.Errorf("acl-check = %+v %+v, problem %v", m, m.Wasm, p)
	}
	m, p = translate.Message(by["openid-missing"], nil)
	if m.Deny == nil || m.Deny.Status != 403 || p == nil || !strings.Contains(p.Error(), "the extension answers 403") {
		t.Errorf("openid-missing = %+v, problem %v", m, p)
	}
	m, p = translate.Message(by["optional-missing"], nil)
	if m != nil || p == nil || !strings.Contains(p.Error(), "FAIL_OPEN: the extension is skipped") {
		t.Errorf("optional-missing = %+v, problem %v", m, p)
	}
	m, _ = translate.Message(by["unset"], nil)
	if m.Lua == nil || m.FailStrategy != extconfig.FailClose {
		t.Errorf("unset = %+v", m)
	}
}

func TestFileResolver_ChecksumMismatch(t *testing.T) {
	e := load(t, "priority.yaml")[3]
	e.Spec.GetWasm().Sha256 = strings.Repeat("0", 64)
	m, p := translate.Message(e, translate.FileResolver{})
	if m.Deny == nil || p == nil || !strings.Contains(p.Error(), "does not match spec.wasm.sha256") {
		t.Errorf("message = %+v, problem = %v", m, p)
	}
}

func TestProxy_BadOptions(t *testing.T) {
	if _, err := translate.Proxy(ingress, nil, translate.Options{ListenerAddress: "nope"}); err == nil {
		t.Error("no error for a bad listener address")
	}
	if _, err := translate.Proxy(ingress, nil, translate.Options{Binding: "wasm"}); err == nil {
		t.Error("no error for an unknown binding")
	}
	if _, err := translate.Proxy(proxyid.Identity{ID: "x", Mode: proxyid.Gateway, Namespace: "n", Upstream: "bad"}, nil, translate.Options{}); err == nil {
		t.Error("no error for a bad upstream")
	}
}
