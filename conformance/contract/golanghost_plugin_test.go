//go:build conformance

package contract

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	golangv3alpha "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/http/golang/v3alpha"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/trafficext/trafficext/conformance/golanghost"
	"github.com/trafficext/trafficext/extconfig"
	"github.com/trafficext/trafficext/internal/echo"
	"github.com/trafficext/trafficext/internal/envoyproc"
)

// TestGolangHostPlugin drives the golang host's C interface with a plain golang-filter plugin
// (conformance/golanghost/testplugin, built here), in real Envoy: Running and Continue from a
// goroutine, a local reply from a goroutine, a Go panic in a callback and in a goroutine (the
// golang API's recover answers 500, Envoy keeps serving), StopAndBuffer then an asynchronous
// Continue of the rewritten body, properties, dynamic metadata, filter state and a metric.
func TestGolangHostPlugin(t *testing.T) {
	if _, err := envoyproc.GolangHostModule(); err != nil {
		t.Fatal(err)
	}
	root, err := envoyproc.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	lib := filepath.Join(t.TempDir(), "ghosttest.so")
	build := exec.Command("go", "build", "-buildmode=c-shared", "-o", lib, "./conformance/golanghost/testplugin")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the test plugin: %v\n%s", err, out)
	}
	up, err := echo.Start("127.0.0.1:0", "upstream")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	pc, _ := anypb.New(wrapperspb.String("{}"))
	filter, err := golanghost.PluginFilter(&golangv3alpha.Config{LibraryId: "ghosttest", LibraryPath: lib, PluginName: "ghosttest", PluginConfig: pc})
	if err != nil {
		t.Fatal(err)
	}
	listenPort, adminPort := freePort(t), freePort(t)
	var upPort int
	fmt.Sscanf(up.Addr()[strings.LastIndexByte(up.Addr(), ':')+1:], "%d", &upPort)
	boot, err := staticBootstrap(func(string, []byte) (map[string]any, error) { return filter, nil },
		[]extconfig.Extension{{Schema: extconfig.SchemaVersion, Name: "ghosttest", Lua: &extconfig.Lua{InlineCode: "-- the filter config ignores it"}}}, listenPort, adminPort, upPort)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := envoyproc.Start(ctx, envoyproc.Options{Bootstrap: boot, AdminPort: adminPort, Concurrency: 2, LogLevel: "warning"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	type reply struct {
		status  int
		headers http.Header
		body    string
		echo    echo.Report
	}
	do := func(t *testing.T, mode, body string) reply {
		method := http.MethodGet
		if body != "" {
			method = http.MethodPost
		}
		req, _ := http.NewRequest(method, fmt.Sprintf("http://127.0.0.1:%d/ghost", listenPort), strings.NewReader(body))
		req.Header.Set("x-test", mode)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v\n%s", mode, err, p.Log())
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		r := reply{status: resp.StatusCode, headers: resp.Header, body: string(b)}
		json.Unmarshal(b, &r.echo)
		return r
	}
	header := func(r reply, name string) string {
		if v := r.echo.Headers[name]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	tests := []struct {
		mode, body string
		check      func(t *testing.T, r reply)
	}{
		{"async", "", func(t *testing.T, r reply) {
			if r.status != 200 || header(r, "x-async") != "goroutine" {
				t.Errorf("status %d, upstream x-async %q; want 200 and the header set from the goroutine", r.status, header(r, "x-async"))
			}
		}},
		{"async-reply", "", func(t *testing.T, r reply) {
			if r.status != 418 || r.headers.Get("x-reply") != "goroutine" || r.body != "teapot from a goroutine" {
				t.Errorf("got %d %q %q, want the goroutine's 418", r.status, r.headers.Get("x-reply"), r.body)
			}
		}},
		{"panic", "", func(t *testing.T, r reply) {
			if r.status != 500 || !strings.Contains(r.body, "error happened in filter") {
				t.Errorf("got %d %q, want the golang API's panic reply", r.status, r.body)
			}
		}},
		{"goroutine-panic", "", func(t *testing.T, r reply) {
			if r.status != 500 {
				t.Errorf("got %d %q, want 500", r.status, r.body)
			}
		}},
		{"buffer", "hello body", func(t *testing.T, r reply) {
			if r.status != 200 || r.echo.Body != "[HELLO BODY]" {
				t.Errorf("got %d, upstream body %q; want the rewritten whole body", r.status, r.echo.Body)
			}
		}},
		{"props", "", func(t *testing.T, r reply) {
			if header(r, "x-prop-path") != "[/ghost]" || r.headers.Get("x-metadata") != "props" || r.headers.Get("x-filter-state") != "kept" {
				t.Errorf("property %q, metadata %q, filter state %q", header(r, "x-prop-path"), r.headers.Get("x-metadata"), r.headers.Get("x-filter-state"))
			}
		}},
		{"none", "", func(t *testing.T, r reply) {
			if r.status != 200 {
				t.Errorf("after the panics: %d, want 200", r.status)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			for i := 0; i < 3; i++ { // both workers, repeatedly
				tt.check(t, do(t, tt.mode, tt.body))
			}
		})
	}
	if !p.Alive() {
		t.Fatalf("Envoy died:\n%s", p.Log())
	}
	if n, err := p.Stat("dynamicmodulescustom.ghosttest_requests"); err != nil || n != int64(3*len(tests)) {
		t.Errorf("ghosttest_requests = %d (%v), want %d", n, err, 3*len(tests))
	}
	if t.Failed() {
		t.Logf("envoy log:\n%s", p.Log())
	}
}
