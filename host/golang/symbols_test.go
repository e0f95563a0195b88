//go:build conformance

package golang

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// These tests check the libraries make golang-filter writes (make build; make conformance
// builds them first) against the golang filter sources of each line in the module cache.

// lineModFlags are the go command flags that select a line's module file (none for the
// module's own line) and its API build tag, as make golang-filter passes them.
func lineModFlags(line string) []string {
	tag := "-tags=envoy_" + strings.ReplaceAll(line, ".", "_")
	if line == envoyLines[0].line {
		return []string{tag}
	}
	return []string{"-modfile=" + filepath.Join("host", "golang", "lines", "go."+line+".mod"), tag}
}

// envoySources is the directory of the line's github.com/envoyproxy/envoy in the module cache.
func envoySources(t *testing.T, goBin, root, line string) string {
	t.Helper()
	args := append([]string{"list", "-m", "-json"}, lineModFlags(line)...)
	cmd := exec.Command(goBin, append(args, "github.com/envoyproxy/envoy")...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -m github.com/envoyproxy/envoy for line %s: %v", line, err)
	}
	var m struct{ Version, Dir string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		t.Fatalf("go list -m for line %s: %v %s", line, err, out)
	}
	return m.Dir
}

// dsoEntryPoints are the names dso.cc's HttpFilterDsoImpl constructor resolves with dlsym (the
// file also loads the cluster-specifier and network-filter libraries; those names are not
// an HTTP filter's).
func dsoEntryPoints(t *testing.T, src string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(src, "contrib", "golang", "common", "dso", "dso.cc"))
	if err != nil {
		t.Fatal(err)
	}
	start := bytes.Index(data, []byte("HttpFilterDsoImpl::HttpFilterDsoImpl("))
	if start < 0 {
		t.Fatal("dso.cc: no HttpFilterDsoImpl constructor")
	}
	body := data[start:]
	body = body[:bytes.Index(body, []byte("\n}\n"))]
	var names []string
	for _, m := range regexp.MustCompile(`"(\w+)"`).FindAllSubmatch(body, -1) {
		names = append(names, string(m[1]))
	}
	if len(names) == 0 {
		t.Fatal("dso.cc: the HttpFilterDsoImpl constructor resolves nothing")
	}
	return names
}

var cFunction = regexp.MustCompile(`\b(envoyGo\w+)\s*\(`)

// cDefinitions are the envoyGo* functions the golang filter's extern "C" files define (a
// name followed by its parameter list and a body; calls and declarations end otherwise).
func cDefinitions(t *testing.T, src string) map[string]string {
	t.Helper()
	defs := map[string]string{}
	for _, rel := range []string{"contrib/golang/filters/http/source/cgo.cc", "contrib/golang/common/log/cgo.cc"} {
		data, err := os.ReadFile(filepath.Join(src, rel))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range cFunction.FindAllSubmatchIndex(data, -1) {
			if m[0] >= 2 && string(data[m[0]-2:m[0]]) == "::" {
				continue
			}
			depth, i := 0, m[1]-1
			for ; i < len(data); i++ {
				if data[i] == '(' {
					depth++
				} else if data[i] == ')' {
					if depth--; depth == 0 {
						break
					}
				}
			}
			if rest := bytes.TrimLeft(data[min(i+1, len(data)):], " \t\n"); len(rest) > 0 && rest[0] == '{' {
				defs[string(data[m[2]:m[3]])] = rel
			}
		}
	}
	if len(defs) == 0 {
		t.Fatal("no envoyGo* definitions found in the golang filter's cgo.cc files")
	}
	return defs
}

// dynamicSymbols are the library's exported functions and its undefined envoyGo* symbols, as
// nm -D --defined-only and --undefined-only list them.
func dynamicSymbols(t *testing.T, lib string) (exported map[string]bool, needed []string) {
	t.Helper()
	f, err := elf.Open(lib)
	if err != nil {
		t.Fatalf("%v (make golang-filter builds it)", err)
	}
	defer f.Close()
	if f.Type != elf.ET_DYN {
		t.Errorf("%s: ELF type %v, want a shared object", lib, f.Type)
	}
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	exported = map[string]bool{}
	for _, s := range syms {
		switch {
		case s.Section == elf.SHN_UNDEF && strings.HasPrefix(s.Name, "envoyGo"):
			needed = append(needed, s.Name)
		case s.Section != elf.SHN_UNDEF && elf.ST_TYPE(s.Info) == elf.STT_FUNC && elf.ST_BIND(s.Info) == elf.STB_GLOBAL:
			exported[s.Name] = true
		}
	}
	return exported, needed
}

// undefinedBy lists the needed symbols defs lacks.
func undefinedBy(needed []string, defs map[string]string) []string {
	var out []string
	for _, n := range needed {
		if defs[n] == "" {
			out = append(out, n)
		}
	}
	return out
}

// TestLineLibraries_Symbols: each line's library was built against that line's Envoy module,
// exports every entry point that line's Envoy resolves, and needs only C functions that
// line's golang filter defines.
func TestLineLibraries_Symbols(t *testing.T) {
	goBin := goCommand(t)
	root := repoRoot(t, goBin)
	needs := map[string][]string{}
	defsOf := map[string]map[string]string{}
	for _, l := range envoyLines {
		t.Run(l.line, func(t *testing.T) {
			lib := filepath.Join(root, "out", "golang", l.line, "trafficext_golang.so")
			src := envoySources(t, goBin, root, l.line)
			if filepath.Base(src) != "envoy@"+l.envoy {
				t.Fatalf("line %s resolves %s, want envoy@%s", l.line, filepath.Base(src), l.envoy)
			}
			bi, err := buildinfo.ReadFile(lib)
			if err != nil {
				t.Fatalf("%s: %v (make golang-filter builds it)", lib, err)
			}
			deps := map[string]string{}
			for _, d := range bi.Deps {
				deps[d.Path] = d.Version
			}
			if built := deps["github.com/envoyproxy/envoy"]; built != l.envoy {
				t.Errorf("%s was built against envoy %q, want %s", lib, built, l.envoy)
			}
			// The engine set of host/engines: both engines are linked in.
			for _, engine := range []string{"github.com/yuin/gopher-lua", "github.com/tetratelabs/wazero"} {
				if deps[engine] == "" {
					t.Errorf("%s does not carry %s", lib, engine)
				}
			}
			exported, needed := dynamicSymbols(t, lib)
			for _, name := range dsoEntryPoints(t, src) {
				if !exported[name] {
					t.Errorf("%s does not export %s, which Envoy %s's dso.cc resolves", lib, name, l.line)
				}
			}
			defs := cDefinitions(t, src)
			if missing := undefinedBy(needed, defs); len(missing) > 0 {
				t.Errorf("%s needs %v, which Envoy %s's golang filter does not define", lib, missing, l.line)
			}
			if len(needed) < 30 {
				t.Errorf("%s needs only %d envoyGo* symbols: %v", lib, len(needed), needed)
			}
			needs[l.line], defsOf[l.line] = needed, defs
			t.Logf("%s: %d entry points, %d envoyGo* symbols needed", l.line, len(dsoEntryPoints(t, src)), len(needed))
		})
	}
	// Why one library per line: the 1.38 API's drain call is not in an Envoy 1.36 or 1.37.
	if n, d := needs["1.38"], defsOf["1.36"]; n != nil && d != nil {
		if got := undefinedBy(n, d); !slices.Equal(got, []string{"envoyGoFilterHttpSetDrainConnectionUponCompletion"}) {
			t.Errorf("the 1.38 library against Envoy 1.36's golang filter lacks %v, want only the drain call", got)
		}
	}
}

// TestDefaultLibraryIsALine: out/trafficext_golang.so, the path existing callers use, is a
// copy of one line's library.
func TestDefaultLibraryIsALine(t *testing.T) {
	root := repoRoot(t, goCommand(t))
	def, err := os.ReadFile(filepath.Join(root, "out", "trafficext_golang.so"))
	if err != nil {
		t.Fatalf("%v (make golang-filter builds it)", err)
	}
	for _, l := range envoyLines {
		lib, err := os.ReadFile(filepath.Join(root, "out", "golang", l.line, "trafficext_golang.so"))
		if err == nil && bytes.Equal(lib, def) {
			t.Logf("out/trafficext_golang.so is line %s", l.line)
			return
		}
	}
	t.Error("out/trafficext_golang.so is none of the line libraries (make golang-filter)")
}

// TestBindingCompilesPerLine: host/golang and its tests and cmd/trafficext_golang compile and
// vet against every line's API, with that line's build tag.
func TestBindingCompilesPerLine(t *testing.T) {
	goBin := goCommand(t)
	root := repoRoot(t, goBin)
	for _, l := range envoyLines {
		t.Run(l.line, func(t *testing.T) {
			args := append([]string{"vet"}, lineModFlags(l.line)...)
			cmd := exec.Command(goBin, append(args, "./host/golang/", "./cmd/trafficext_golang/")...)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("go %s: %v\n%s", strings.Join(cmd.Args[1:], " "), err, out)
			}
		})
	}
}
