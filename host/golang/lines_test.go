package golang

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "regenerate host/golang/lines/go.<line>.{mod,sum}")

// envoyLines are the Envoy lines the golang-filter library is built for (make golang-filter),
// each with the github.com/envoyproxy/envoy version it compiles against and the Istio line
// whose proxies run that Envoy. The first line builds with the module's own go.mod.
var envoyLines = []struct{ line, envoy, istio string }{
	{"1.36", "v1.36.2", "1.28"},
	{"1.37", "v1.37.0", "1.29"},
	{"1.38", "v1.38.1", "1.30"},
	{"1.39", "v1.39.1", "1.31"},
}

// repoRoot is the directory of the module's go.mod.
func repoRoot(t *testing.T, goBin string) string {
	t.Helper()
	out, err := exec.Command(goBin, "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("go env GOMOD: %v %q", err, out)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

func goCommand(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH")
	}
	return goBin
}

// TestLineModFiles: every line's module file is go.mod with only the Envoy module moved to the
// line's version, then tidied, so a dependency bump in go.mod reaches every line. -update
// regenerates them. The module's own go.mod must pin the first line.
func TestLineModFiles(t *testing.T) {
	goBin := goCommand(t)
	root := repoRoot(t, goBin)
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	first := envoyLines[0]
	if want := "github.com/envoyproxy/envoy " + first.envoy + "\n"; !bytes.Contains(gomod, []byte(want)) {
		t.Errorf("go.mod does not require %q: line %s builds with it", strings.TrimSpace(want), first.line)
	}
	gosum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "host", "golang", "lines")
	var want []string
	for _, l := range envoyLines[1:] {
		want = append(want, "go."+l.line+".mod", "go."+l.line+".sum")
		t.Run(l.line, func(t *testing.T) {
			tmp := t.TempDir()
			mod, sum := filepath.Join(tmp, "go.mod"), filepath.Join(tmp, "go.sum")
			if err := os.WriteFile(mod, gomod, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(sum, gosum, 0o644); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{
				{"mod", "edit", "-modfile=" + mod, "-require=github.com/envoyproxy/envoy@" + l.envoy},
				{"mod", "tidy", "-modfile=" + mod},
			} {
				cmd := exec.Command(goBin, args...)
				cmd.Dir = root
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
				}
			}
			for _, f := range []struct{ generated, name string }{{mod, "go." + l.line + ".mod"}, {sum, "go." + l.line + ".sum"}} {
				got, err := os.ReadFile(f.generated)
				if err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(dir, f.name)
				if *update {
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				have, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(have, got) {
					t.Errorf("%s is not go.mod at envoy %s, tidied (go test ./host/golang -run TestLineModFiles -update)", path, l.envoy)
				}
			}
		})
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var have []string
	for _, e := range entries {
		have = append(have, e.Name())
	}
	slices.Sort(have)
	slices.Sort(want)
	if !slices.Equal(have, want) {
		t.Errorf("%s holds %v, want %v (one pair per line but the first)", dir, have, want)
	}
}
