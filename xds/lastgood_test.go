package xds

import (
	"strings"
	"testing"

	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/source"
	"github.com/trafficext/trafficext/xds/translate"
	"github.com/trafficext/trafficext/xds/validate"
)

func doc(name, code string) string {
	return "apiVersion: extensions.istio.io/v1alpha1\nkind: TrafficExtension\nmetadata: {name: " + name +
		"}\nspec:\n  lua: {inlineCode: '" + code + "'}\n---\n"
}

const good, good2, bad = "function envoy_on_request(h) end", "function envoy_on_response(h) end", "function ("

func snap(files map[string]string) source.Snapshot {
	var s source.Snapshot
	for _, name := range []string{"a.yaml", "b.yaml", "c.yaml"} {
		if content, ok := files[name]; ok {
			exts, notes, err := source.Decode(name, []byte(content))
			s.Files = append(s.Files, source.File{Path: name, Extensions: exts, Notes: notes, Err: err})
		}
	}
	return s
}

func served(o outcome) string {
	var out []string
	for _, e := range o.serve {
		out = append(out, e.Name+"="+e.Spec.GetLua().GetInlineCode()[len("function envoy_on_"):len("function envoy_on_")+3])
	}
	return strings.Join(out, " ")
}

func TestLastGood(t *testing.T) {
	steps := []struct {
		name     string
		files    map[string]string
		want     string
		stale    string
		problems []string
	}{
		{"initial", map[string]string{"a.yaml": doc("x", good) + doc("y", good), "b.yaml": doc("z", good)},
			"x=req y=req z=req", "", nil},
		{"edit x", map[string]string{"a.yaml": doc("x", good2) + doc("y", good), "b.yaml": doc("z", good)},
			"x=res y=req z=req", "", nil},
		{"break x: keeps its last version, y follows", map[string]string{"a.yaml": doc("x", bad) + doc("y", good2), "b.yaml": doc("z", good)},
			"x=res y=res z=req", "default/x", []string{"a.yaml: default/x: spec.lua.inlineCode: line 1"}},
		{"malformed a.yaml keeps x and y, z still updates", map[string]string{"a.yaml": "kind: [", "b.yaml": doc("z", good2)},
			"x=res y=res z=res", "default/x default/y", []string{"a.yaml: line 1"}},
		{"new invalid resource is absent", map[string]string{"a.yaml": "kind: [", "b.yaml": doc("z", good2) + doc("w", bad)},
			"x=res y=res z=res", "default/x default/y", []string{"a.yaml: line 1", "b.yaml: default/w: spec.lua.inlineCode"}},
		{"fixed a.yaml without y: y is dropped", map[string]string{"a.yaml": doc("x", good), "b.yaml": doc("z", good2)},
			"x=req z=res", "", nil},
		{"duplicate in c.yaml is ignored", map[string]string{"a.yaml": doc("x", good), "b.yaml": doc("z", good2), "c.yaml": doc("x", good2)},
			"x=req z=res", "", []string{"c.yaml: default/x: metadata.name: already defined in a.yaml (line 1)"}},
		{"file removed: its resources go", map[string]string{"b.yaml": doc("z", good2)},
			"z=res", "", nil},
		{"unknown enum in a resource keeps its last version", map[string]string{"b.yaml": strings.Replace(doc("z", good), "spec:\n", "spec:\n  phase: AUTHX\n", 1)},
			"z=res", "default/z", []string{`b.yaml: default/z: spec.phase: unknown value "AUTHX"`}},
	}
	lg := newLastGood()
	for _, st := range steps {
		o := lg.apply(snap(st.files), validate.Options{})
		if got := served(o); got != st.want {
			t.Fatalf("%s: served %s, want %s", st.name, got, st.want)
		}
		var stale []string
		for _, k := range o.stale {
			stale = append(stale, k.String())
		}
		if strings.Join(stale, " ") != st.stale {
			t.Errorf("%s: stale %v, want %s", st.name, stale, st.stale)
		}
		if len(o.problems) != len(st.problems) {
			t.Fatalf("%s: problems %v, want %q", st.name, o.problems, st.problems)
		}
		for i, p := range st.problems {
			if !strings.HasPrefix(o.problems[i].Error(), p) {
				t.Errorf("%s: problem %q, want prefix %q", st.name, o.problems[i], p)
			}
		}
	}
}

func TestCheckFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := dir + "/" + name
		if err := writeFile(p, content); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := write("a.yaml", doc("x", good)+doc("empty-sel", good)+"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n")
	b := write("bad.yaml", strings.Replace(doc("parity", bad), "spec:\n", "spec:\n  selector: {}\n", 1))
	c := write("broken.yaml", "x: 1\na: b: c\n")
	r := CheckFiles([]string{a, b, c, dir + "/missing.yaml"}, CheckOptions{})
	want := []string{
		dir + "/bad.yaml: default/parity: spec.lua.inlineCode: line 1: near '(': syntax error",
		dir + "/broken.yaml: line 2: mapping values are not allowed in this context",
		dir + "/missing.yaml: reading: no such file or directory",
	}
	if len(r.Errors) != len(want) {
		t.Fatalf("errors = %v", r.Errors)
	}
	for i := range want {
		if r.Errors[i].Error() != want[i] {
			t.Errorf("error %d = %q\nwant %q", i, r.Errors[i], want[i])
		}
	}
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0].Error(), "default/parity: spec.selector: warning: no labels") {
		t.Errorf("warnings = %v", r.Warnings)
	}
	if r.Valid != 2 || len(r.Notes) != 1 {
		t.Errorf("valid = %d, notes = %v", r.Valid, r.Notes)
	}
	if errs := ValidateFiles([]string{a}); len(errs) != 0 {
		t.Errorf("ValidateFiles(valid) = %v", errs)
	}
	var me *model.Error
	if errs := ValidateFiles([]string{b}); len(errs) != 1 || !asModelError(errs[0], &me) || me.Key.Name != "parity" || me.Field != "spec.lua.inlineCode" {
		t.Errorf("ValidateFiles(bad) = %v", errs)
	}
}

func TestCheckFiles_Directory(t *testing.T) {
	dir := t.TempDir()
	if err := writeFile(dir+"/a.yaml", doc("x", good)); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(dir+"/b.yml", doc("y", bad)); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(dir+"/readme.md", "not config"); err != nil {
		t.Fatal(err)
	}
	r := CheckFiles([]string{dir}, CheckOptions{})
	if r.Valid != 1 || len(r.Errors) != 1 || !strings.HasPrefix(r.Errors[0].Error(), dir+"/b.yml: default/y: ") {
		t.Fatalf("report = %+v", r)
	}
}

// TestLastGood_GolangBinding: under the golang binding an edit that calls httpCall() is refused
// at validation and the previous version keeps serving; CheckFiles reports the same error.
func TestLastGood_GolangBinding(t *testing.T) {
	const calls = `function envoy_on_request(h) h:httpCall("authz", {}, "", 100) end`
	opts := validate.Options{Binding: translate.Golang}
	lg := newLastGood()
	if got := served(lg.apply(snap(map[string]string{"a.yaml": doc("x", good)}), opts)); got != "x=req" {
		t.Fatalf("served %s", got)
	}
	o := lg.apply(snap(map[string]string{"a.yaml": doc("x", calls)}), opts)
	if got := served(o); got != "x=req" || len(o.stale) != 1 {
		t.Errorf("served %s, stale %v: want the previous x kept", got, o.stale)
	}
	const want = "a.yaml: default/x: spec.lua.inlineCode: line 1: httpCall() is not available with the golang binding"
	if len(o.problems) != 1 || !strings.HasPrefix(o.problems[0].Error(), want) {
		t.Errorf("problems %v, want %q", o.problems, want)
	}
	if o := newLastGood().apply(snap(map[string]string{"a.yaml": doc("x", calls)}), validate.Options{}); served(o) != "x=req" || len(o.problems) != 0 {
		t.Errorf("dynamic modules: served %s, problems %v", served(o), o.problems)
	}

	p := t.TempDir() + "/a.yaml"
	if err := writeFile(p, doc("x", calls)); err != nil {
		t.Fatal(err)
	}
	if r := CheckFiles([]string{p}, CheckOptions{Binding: translate.Golang}); len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Error(), "httpCall() is not available") {
		t.Errorf("CheckFiles(golang) errors = %v", r.Errors)
	}
	if r := CheckFiles([]string{p}, CheckOptions{}); len(r.Errors) != 0 {
		t.Errorf("CheckFiles(dynamic modules) errors = %v", r.Errors)
	}
}
