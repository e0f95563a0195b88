package source

import (
	"os"
	"path/filepath"
	"testing"
)

// The directory cache decodes a file again exactly when its bytes change, and forgets removed
// files; what it returns equals LoadDir.
func TestDirCache_DecodesOnlyChangedFiles(t *testing.T) {
	dir := t.TempDir()
	doc := func(name, header string) string {
		return "apiVersion: extensions.istio.io/v1alpha1\nkind: TrafficExtension\nmetadata: {name: " + name + ", namespace: istio-system}\nspec:\n  lua:\n    inlineCode: |\n      function envoy_on_request(h) h:headers():add(\"" + header + "\", \"1\") end\n"
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", doc("a", "x-a"))
	write("b.yaml", doc("b", "x-b"))
	c := dirCache{}
	first, err := c.load(dir)
	if err != nil {
		t.Fatal(err)
	}
	write("b.yaml", doc("b", "x-b2"))
	second, err := c.load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if first.Files[0].Extensions[0] != second.Files[0].Extensions[0] {
		t.Error("the unchanged file was decoded again")
	}
	if first.Files[1].Extensions[0] == second.Files[1].Extensions[0] || second.Files[1].Hash == first.Files[1].Hash {
		t.Error("the changed file was not decoded again")
	}
	want, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !second.equal(want) {
		t.Errorf("cached load %+v differs from LoadDir %+v", second, want)
	}
	if err := os.Remove(filepath.Join(dir, "a.yaml")); err != nil {
		t.Fatal(err)
	}
	third, err := c.load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(third.Files) != 1 || len(c) != 1 {
		t.Errorf("after removing a.yaml: %d files, %d cached; want 1 and 1", len(third.Files), len(c))
	}
}
