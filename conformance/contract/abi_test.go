//go:build conformance

package contract

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/trafficext/trafficext/extconfig"
	"github.com/trafficext/trafficext/host/contract"
	"github.com/trafficext/trafficext/internal/envoyproc"
)

// abiInfoLua reports, in response headers, stream-info values that the binding reads as
// Envoy attributes by their ABI id: a shifted id table would answer another attribute.
const abiInfoLua = `
function envoy_on_response(h)
  local si = h:streamInfo()
  h:headers():replace("x-protocol", si:protocol())
  h:headers():replace("x-remote", si:downstreamRemoteAddress())
  h:headers():replace("x-local", si:downstreamLocalAddress())
end
`

// TestABIVersionMatched loads out/libtrafficext.so into the real Envoy binary and requires
// Envoy to log the module's ABI version as matched (not deprecated, not mismatched), then
// sends one request through a filter of the module.
func TestABIVersionMatched(t *testing.T) {
	ext := extconfig.Extension{
		Schema: extconfig.SchemaVersion, Name: contract.NamePrefix + "abi", Generation: "abi",
		FailStrategy: extconfig.FailClose, Lua: &extconfig.Lua{InlineCode: abiInfoLua},
	}
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go up.Serve(ln)
	defer up.Close()
	listenPort, adminPort := freePort(t), freePort(t)
	boot, err := staticBootstrap(dynmodFilter, []extconfig.Extension{ext}, listenPort, adminPort, ln.Addr().(*net.TCPAddr).Port)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := envoyproc.Start(ctx, envoyproc.Options{Bootstrap: boot, AdminPort: adminPort,
		LogLevel: "warning", ComponentLogLevel: "dynamic_modules:info"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()

	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", listenPort))
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(context.Context, string, string) (net.Conn, error) { return conn, nil }}}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/abi", listenPort))
	if err != nil {
		t.Fatalf("request through Envoy: %v\n%s", err, p.Log())
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	log := p.Log()
	m := regexp.MustCompile(`Dynamic module ABI version (\S+) (matched|is deprecated)`).FindStringSubmatch(log)
	switch {
	case m == nil:
		t.Fatalf("Envoy did not log the module's ABI version as matched:\n%s", log)
	case m[2] != "matched":
		t.Fatalf("Envoy says ABI version %s %s:\n%s", m[1], m[2], log)
	}
	t.Logf("Envoy: ABI version %s matched", m[1])

	if resp.StatusCode != 200 {
		t.Fatalf("status %d through the module's filter\n%s", resp.StatusCode, log)
	}
	want := map[string]string{
		"x-protocol": "HTTP/1.1",
		"x-remote":   conn.LocalAddr().String(),
		"x-local":    conn.RemoteAddr().String(),
	}
	for h, v := range want {
		if got := resp.Header.Get(h); got != v {
			t.Errorf("%s = %q, want %q (attribute read through its ABI id)", h, got, v)
		}
	}
}

// declRE matches a callback declaration of our ABI headers: the return type, then the name.
var declRE = regexp.MustCompile(`(?m)^[a-z_][a-z0-9_ ]*\*?\s*\*?(envoy_dynamic_module_callback_[a-z0-9_]+)\(`)

// TestCallbacksExportedByEnvoy checks every callback host/dynmod's declaration headers name
// against the dynamic symbols of the Envoy binary, and every hook the module exports against
// the names the binary looks up: a misspelt or retired callback fails here rather than at the
// first request that needs it, and a hook Envoy never resolves is dead code.
func TestCallbacksExportedByEnvoy(t *testing.T) {
	bin, err := envoyproc.FindBinary()
	if err != nil {
		t.Fatal(err)
	}
	bin, err = filepath.EvalSymlinks(bin)
	if err != nil {
		t.Fatal(err)
	}
	root, err := envoyproc.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	headers, err := filepath.Glob(filepath.Join(root, "host/dynmod/*.h"))
	if err != nil || len(headers) == 0 {
		t.Fatalf("no declaration headers in host/dynmod: %v", err)
	}
	declared := map[string]string{} // callback → header
	for _, h := range headers {
		b, err := os.ReadFile(h)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range declRE.FindAllSubmatch(b, -1) {
			declared[string(m[1])] = filepath.Base(h)
		}
	}
	if len(declared) < 20 {
		t.Fatalf("parsed only %d callback declarations from %v", len(declared), headers)
	}

	f, err := elf.Open(bin)
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
		if s.Section != elf.SHN_UNDEF && strings.HasPrefix(s.Name, "envoy_dynamic_module_callback_") {
			exported[s.Name] = true
		}
	}
	var missing []string
	for name, h := range declared {
		if !exported[name] {
			missing = append(missing, name+" ("+h+")")
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("declared but not exported by %s: %s", bin, m)
	}
	t.Logf("%d declared callbacks, all among the %d the binary exports", len(declared), len(exported))

	md, err := envoyproc.ModuleDir()
	if err != nil {
		t.Fatal(err)
	}
	mod, err := elf.Open(filepath.Join(md, "libtrafficext.so"))
	if err != nil {
		t.Fatal(err)
	}
	defer mod.Close()
	msyms, err := mod.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	image, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	hooks := 0
	for _, s := range msyms {
		if s.Section == elf.SHN_UNDEF || !strings.HasPrefix(s.Name, "envoy_dynamic_module_on_") {
			continue
		}
		hooks++
		// The loader resolves hooks by name, so each name is a NUL-terminated string in the binary.
		if !bytes.Contains(image, append([]byte(s.Name), 0)) {
			t.Errorf("the module exports %s, which Envoy never looks up", s.Name)
		}
	}
	if hooks == 0 {
		t.Fatal("the module exports no envoy_dynamic_module_on_* hook")
	}
	t.Logf("%d hooks exported by the module, all looked up by Envoy", hooks)
}
