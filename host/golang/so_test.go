package golang

import (
	"debug/elf"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// entryPoints are the symbols Envoy's golang filter resolves with dlsym when it loads the
// library (contrib/golang/common/dso/dso.cc, HttpFilterDsoImpl); loading fails if any is
// missing.
var entryPoints = []string{
	"envoyGoFilterNewHttpPluginConfig",
	"envoyGoFilterMergeHttpPluginConfig",
	"envoyGoFilterDestroyHttpPluginConfig",
	"envoyGoFilterOnHttpHeader",
	"envoyGoFilterOnHttpData",
	"envoyGoFilterOnHttpLog",
	"envoyGoFilterOnHttpStreamComplete",
	"envoyGoFilterOnHttpDestroy",
	"envoyGoRequestSemaDec",
	"envoyGoFilterCleanUp",
}

// TestSharedObjectExports builds cmd/trafficext_golang as Envoy loads it (c-shared) and checks
// that it exports every entry point.
func TestSharedObjectExports(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the golang filter's shared object is an ELF library; built on linux only")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH")
	}
	cc, err := exec.Command(goBin, "env", "CC").Output()
	if err != nil {
		t.Fatalf("go env CC: %v", err)
	}
	if _, err := exec.LookPath(strings.Fields(string(cc) + " cc")[0]); err != nil {
		t.Skipf("no C compiler (%q): cgo cannot build the shared object", strings.TrimSpace(string(cc)))
	}
	so := filepath.Join(t.TempDir(), "trafficext_golang.so")
	cmd := exec.Command(goBin, "build", "-buildmode=c-shared", "-o", so, "github.com/trafficext/trafficext/cmd/trafficext_golang")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the shared object: %v\n%s", err, out)
	}

	f, err := elf.Open(so)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, s := range syms {
		if s.Section != elf.SHN_UNDEF && elf.ST_TYPE(s.Info) == elf.STT_FUNC && elf.ST_BIND(s.Info) == elf.STB_GLOBAL {
			exported[s.Name] = true
		}
	}
	for _, name := range entryPoints {
		if !exported[name] {
			t.Errorf("%s is not exported", name)
		}
	}
	if f.Type != elf.ET_DYN {
		t.Errorf("ELF type %v, want a shared object", f.Type)
	}
}
