// Package wasmtest builds the Proxy-Wasm test guests of engine/wasm from their sources
// (engine/wasm/testdata/guests) for unit, conformance and benchmark tests. Binaries are
// never committed: they are built on demand into a cache directory keyed by the hash of the
// sources and the toolchain (os.UserCacheDir()/trafficext/guests, or TRAFFICEXT_GUEST_CACHE).
//
// Recipes:
//   - Go SDK guests (testdata/guests/go, its own module requiring
//     github.com/proxy-wasm/proxy-wasm-go-sdk): GOOS=wasip1 GOARCH=wasm go build
//     -buildmode=c-shared ./<name>.
//   - The WAF guest (testdata/guests/gowaf, its own module on coraza v3 and the CRS): the same
//     with -tags=no_fs_access.
//   - C guests (testdata/guests/c/<name>/plugin.c, no libc): clang --target=wasm32-unknown-unknown
//     -nostdlib -O2 -Wl,--no-entry; variant "abi010" adds -DABI_0_1_0. When clang is missing,
//     the recipe tries `apt-get install -y clang lld` once; tests skip with a clear message if
//     the toolchain still cannot be found.
//   - AssemblyScript guests (testdata/guests/as/<name>/index.ts on @solo-io/proxy-runtime 0.1.8
//     and assemblyscript 0.14.13 from npm): npm install once into the cache, then
//     asc <name>/index.ts --use abort=abort_proc_exit --optimize. Tests skip when node/npm or
//     the registry are unavailable.
//   - Rust guests (testdata/guests/rust/<name>, a crate on proxy-wasm 0.2.2 from crates.io):
//     cargo build --release --target wasm32-wasip1 on a copy in the cache (the target is added
//     with rustup when missing). Tests skip when cargo or the wasm32-wasip1 standard library
//     is unavailable.
package wasmtest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Guest is a built guest module.
type Guest struct {
	Lang, Name string
	Path       string
	SHA256     string
}

// SourceDir is engine/wasm/testdata/guests.
func SourceDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "guests")
}

func cacheDir() string {
	if d := os.Getenv("TRAFFICEXT_GUEST_CACHE"); d != "" {
		return d
	}
	d, err := os.UserCacheDir()
	if err != nil {
		d = os.TempDir()
	}
	return filepath.Join(d, "trafficext", "guests")
}

// recipeVersion changes whenever a build recipe changes, so cached binaries are rebuilt.
const recipeVersion = "2"

var (
	mu    sync.Mutex
	built = map[string]Guest{}
)

// Go builds (or reuses) the Go SDK guest name.
func Go(t testing.TB, name string) Guest {
	t.Helper()
	g, err := build("go", name, "")
	if err != nil {
		t.Fatalf("building Go guest %s: %v", name, err)
	}
	return g
}

// WAF builds (or reuses) the Coraza + OWASP CRS guest (testdata/guests/gowaf, a separate Go
// module on github.com/corazawaf/coraza/v3 and github.com/corazawaf/coraza-coreruleset/v4;
// ~31 MB).
func WAF(t testing.TB) Guest {
	t.Helper()
	g, err := build("gowaf", "waf", "")
	if err != nil {
		t.Fatalf("building the WAF guest: %v", err)
	}
	return g
}

// C builds (or reuses) the C guest name; variant "abi010" builds the ABI 0.1.0 flavour. The
// test is skipped when no clang can be found or installed.
func C(t testing.TB, name, variant string) Guest {
	t.Helper()
	if err := ensureClang(); err != nil {
		t.Skipf("C guests need clang with the wasm32 target: %v", err)
	}
	g, err := build("c", name, variant)
	if err != nil {
		t.Fatalf("building C guest %s: %v", name, err)
	}
	return g
}

// AS builds (or reuses) the AssemblyScript guest name; the test is skipped when npm cannot
// provide the toolchain.
func AS(t testing.TB, name string) Guest {
	t.Helper()
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skip("AssemblyScript guests need node and npm")
	}
	g, err := build("as", name, "")
	if err != nil {
		if strings.Contains(err.Error(), "npm install") {
			t.Skipf("AssemblyScript toolchain unavailable: %v", err)
		}
		t.Fatalf("building AssemblyScript guest %s: %v", name, err)
	}
	return g
}

// asRoot installs the npm packages of testdata/guests/as into the cache (once per
// package.json) and returns that directory.
func asRoot(src string) (string, error) {
	pkg, err := os.ReadFile(filepath.Join(src, "package.json"))
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(pkg)
	root := filepath.Join(cacheDir(), "as-"+hex.EncodeToString(sum[:8]))
	if _, err := os.Stat(filepath.Join(root, "node_modules", ".bin", "asc")); err == nil {
		return root, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(root, "package.json"), pkg, 0o644); err != nil {
		return "", err
	}
	cmd := exec.Command("npm", "install", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("npm install: %v\n%s", err, out)
	}
	return root, nil
}

// Rust builds (or reuses) the Rust guest name; the test is skipped when no cargo with the
// wasm32-wasip1 target is available.
func Rust(t testing.TB, name string) Guest {
	t.Helper()
	if err := ensureRust(); err != nil {
		t.Skipf("Rust guests need cargo with the wasm32-wasip1 target: %v", err)
	}
	g, err := build("rust", name, "")
	if err != nil {
		if msg := err.Error(); strings.Contains(msg, "failed to get") || strings.Contains(msg, "failed to download") || strings.Contains(msg, "index.crates.io") {
			t.Skipf("crates.io unavailable for Rust guests: %v", err)
		}
		t.Fatalf("building Rust guest %s: %v", name, err)
	}
	return g
}

var (
	rustOnce sync.Once
	rustErr  error
)

func ensureRust() error {
	rustOnce.Do(func() {
		if _, err := exec.LookPath("cargo"); err != nil {
			rustErr = err
			return
		}
		out, _ := exec.Command("rustup", "target", "list", "--installed").Output()
		if strings.Contains(string(out), "wasm32-wasip1") {
			return
		}
		if b, err := exec.Command("rustup", "target", "add", "wasm32-wasip1").CombinedOutput(); err != nil {
			rustErr = fmt.Errorf("rustup target add wasm32-wasip1: %v\n%s", err, b)
		}
	})
	return rustErr
}

// copyTree copies the regular files under from into to.
func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			if d.Name() == "target" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
}

var (
	clangOnce sync.Once
	clangErr  error
)

func ensureClang() error {
	clangOnce.Do(func() {
		if _, err := exec.LookPath("clang"); err == nil {
			return
		}
		cmd := exec.Command("apt-get", "install", "-y", "-qq", "clang", "lld")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		if _, lerr := exec.LookPath("clang"); lerr != nil {
			clangErr = fmt.Errorf("clang not found and `apt-get install clang lld` failed: %v\n%s", err, out)
		}
	})
	return clangErr
}

func toolVersion(lang string) string {
	var cmd *exec.Cmd
	switch lang {
	case "go", "gowaf":
		cmd = exec.Command("go", "version")
	case "c":
		cmd = exec.Command("clang", "--version")
	case "rust":
		cmd = exec.Command("rustc", "--version")
	default:
		cmd = exec.Command("node", "--version")
	}
	out, _ := cmd.Output()
	return string(out)
}

// hashSources hashes every file under dir with the toolchain version and extra inputs.
func hashSources(dir string, extra ...string) (string, error) {
	h := sha256.New()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !strings.HasSuffix(p, ".wasm") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		rel, _ := filepath.Rel(dir, f)
		fmt.Fprintf(h, "%s\x00%d\x00", rel, len(b))
		h.Write(b)
	}
	for _, e := range extra {
		fmt.Fprintf(h, "%s\x00", e)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func build(lang, name, variant string) (Guest, error) {
	mu.Lock()
	defer mu.Unlock()
	key := lang + "/" + name + "/" + variant
	if g, ok := built[key]; ok {
		return g, nil
	}
	src := filepath.Join(SourceDir(), lang)
	hash, err := hashSources(src, toolVersion(lang), name, variant, recipeVersion)
	if err != nil {
		return Guest{}, err
	}
	file := name
	if variant != "" {
		file += "-" + variant
	}
	out := filepath.Join(cacheDir(), hash, lang+"-"+file+".wasm")
	if _, err := os.Stat(out); err != nil {
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return Guest{}, err
		}
		tmp := out + fmt.Sprintf(".tmp%d", os.Getpid())
		var cmd *exec.Cmd
		switch lang {
		case "go", "gowaf":
			args := []string{"build", "-buildmode=c-shared", "-o", tmp}
			if lang == "gowaf" {
				// A reactor has no file system: coraza must not probe it.
				args = append(args, "-tags=no_fs_access")
			}
			cmd = exec.Command("go", append(args, "./"+name)...)
			cmd.Dir = src
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false", "GOWORK=off")
		case "c":
			args := []string{"--target=wasm32-unknown-unknown", "-nostdlib", "-O2", "-Wl,--no-entry", "-o", tmp}
			if variant == "abi010" {
				args = append(args, "-DABI_0_1_0")
			}
			cmd = exec.Command("clang", append(args, filepath.Join(name, "plugin.c"))...)
			cmd.Dir = src
		case "as":
			root, err := asRoot(src)
			if err != nil {
				return Guest{}, err
			}
			dir := filepath.Join(root, name+"-"+hash)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return Guest{}, err
			}
			for from, to := range map[string]string{
				filepath.Join(src, name, "index.ts"): filepath.Join(dir, "index.ts"),
				filepath.Join(root, "node_modules", "@solo-io", "proxy-runtime", "assembly", "tsconfig.json"): filepath.Join(dir, "tsconfig.json"),
			} {
				b, err := os.ReadFile(from)
				if err != nil {
					return Guest{}, err
				}
				if err := os.WriteFile(to, b, 0o644); err != nil {
					return Guest{}, err
				}
			}
			cmd = exec.Command(filepath.Join(root, "node_modules", ".bin", "asc"), filepath.Join(dir, "index.ts"), "-b", tmp, "--use", "abort=abort_proc_exit", "--optimize")
			cmd.Dir = root
		case "rust":
			dir := filepath.Join(cacheDir(), "rust-src-"+hash, name)
			if err := copyTree(filepath.Join(src, name), dir); err != nil {
				return Guest{}, err
			}
			target := filepath.Join(cacheDir(), "rust-target")
			cmd = exec.Command("cargo", "build", "--quiet", "--release", "--target", "wasm32-wasip1")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "CARGO_TARGET_DIR="+target)
			if b, err := cmd.CombinedOutput(); err != nil {
				return Guest{}, fmt.Errorf("cargo build (%s): %v\n%s", dir, err, b)
			}
			b, err := os.ReadFile(filepath.Join(target, "wasm32-wasip1", "release", name+".wasm"))
			if err != nil {
				return Guest{}, err
			}
			if err := os.WriteFile(tmp, b, 0o644); err != nil {
				return Guest{}, err
			}
			cmd = exec.Command("true")
		default:
			return Guest{}, fmt.Errorf("unknown guest language %q", lang)
		}
		if b, err := cmd.CombinedOutput(); err != nil {
			os.Remove(tmp)
			return Guest{}, fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, b)
		}
		if err := os.Rename(tmp, out); err != nil {
			return Guest{}, err
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return Guest{}, err
	}
	sum := sha256.Sum256(b)
	g := Guest{Lang: lang, Name: name, Path: out, SHA256: hex.EncodeToString(sum[:])}
	built[key] = g
	return g, nil
}
