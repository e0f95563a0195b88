// Package archtest checks that the import graph is the one docs/architecture.md describes:
// its "layers" block orders the data-plane packages bottom-up, and its package table names
// every package of the module.
package archtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const module = "github.com/trafficext/trafficext/"

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func listPackages(t *testing.T, root string) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps=false", "-json=ImportPath,Imports,Deps", "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// layers reads the fenced "layers" block: one line per layer, lowest first, each a list of
// package paths (a path covers its subpackages).
func layers(t *testing.T, doc []byte) [][]string {
	t.Helper()
	var out [][]string
	in := false
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "```layers":
			in = true
		case in && line == "```":
			return out
		case in && line != "":
			out = append(out, strings.Fields(line))
		}
	}
	t.Fatal("docs/architecture.md has no ```layers block")
	return nil
}

func rel(importPath string) string { return strings.TrimPrefix(importPath, module) }

func covers(prefix, p string) bool { return p == prefix || strings.HasPrefix(p, prefix+"/") }

func layerOf(ls [][]string, p string) (layer int, root string) {
	best, bestRoot := -1, ""
	for i, l := range ls {
		for _, prefix := range l {
			if covers(prefix, p) && len(prefix) > len(bestRoot) {
				best, bestRoot = i, prefix
			}
		}
	}
	return best, bestRoot
}

func TestImportLayers(t *testing.T) {
	root := filepath.Join("..", "..")
	doc, err := os.ReadFile(filepath.Join(root, "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	ls := layers(t, doc)
	for _, p := range listPackages(t, root) {
		from := rel(p.ImportPath)
		fl, froot := layerOf(ls, from)
		if strings.HasPrefix(from, "xds") {
			// The control plane shares only the wire message with the data plane.
			for _, d := range p.Deps {
				if dl, droot := layerOf(ls, rel(d)); strings.HasPrefix(d, module) && dl >= 0 && droot != "extconfig" {
					t.Errorf("%s depends on data-plane package %s (only extconfig is allowed)", from, rel(d))
				}
			}
			continue
		}
		if fl < 0 {
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			to := rel(imp)
			tl, troot := layerOf(ls, to)
			switch {
			case tl < 0:
				if !strings.HasPrefix(to, "internal/") || strings.HasPrefix(to, "internal/envoyproc") {
					t.Errorf("data-plane package %s imports %s, which is outside the layers", from, to)
				}
			case tl > fl || (tl == fl && troot != froot):
				t.Errorf("%s (layer %d) imports %s (layer %d): imports go down only", from, fl, to, tl)
			}
		}
	}
}

var tableRow = regexp.MustCompile("^\\| *(`[^|]+`) *\\|")
var backticked = regexp.MustCompile("`([^`]+)`")

func TestPackageTableMatchesTree(t *testing.T) {
	root := filepath.Join("..", "..")
	doc, err := os.ReadFile(filepath.Join(root, "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for sc.Scan() {
		if m := tableRow.FindStringSubmatch(sc.Text()); m != nil {
			for _, b := range backticked.FindAllStringSubmatch(m[1], -1) {
				named[b[1]] = true
			}
		}
	}
	exists := map[string]bool{}
	for _, p := range listPackages(t, root) {
		exists[rel(p.ImportPath)] = true
	}
	for n := range named {
		found := false
		for e := range exists {
			found = found || covers(n, e)
		}
		if !found {
			t.Errorf("docs/architecture.md names package %s, which does not exist", n)
		}
	}
	for e := range exists {
		ok := false
		for n := range named {
			ok = ok || covers(n, e)
		}
		if !ok {
			t.Errorf("package %s is not in docs/architecture.md's package table", e)
		}
	}
}
