//go:build conformance

package hardening

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trafficext/trafficext/internal/envoyproc"
)

// scaleExtensions is how many extensions TestScale attaches: 10,000 by default (CI, about
// 15 s and 2 GiB of Envoy RSS), TRAFFICEXT_SCALE_EXTENSIONS to change it.
func scaleExtensions(t *testing.T) int {
	n := 10000
	if v := os.Getenv("TRAFFICEXT_SCALE_EXTENSIONS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("TRAFFICEXT_SCALE_EXTENSIONS=%q: want a positive count", v)
		}
	}
	return n
}

// N Lua extensions on one gateway come up, an edit of one reaches Envoy quickly, and the log
// grows with the number of changes, not with its square (state-of-the-world ECDS subscriptions
// logged 29 MB for 1,000 extensions and 1.4 GB in 30 s for 10,000).
func TestScale_ManyExtensionsOnOneGateway(t *testing.T) {
	n := scaleExtensions(t)
	dir := t.TempDir()
	for i := 1; i <= n; i++ {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("ext-%d.yaml", i)), luaExtension(fmt.Sprintf("ext-%d", i), fmt.Sprintf("x-ext-%d", i), "v0"))
	}
	p := freePorts(t)
	start := time.Now()
	r := startRun(t, p, dir, "--log-level", "info") // run's default level, for the log volume
	// The last extension's header proves the whole chain is live.
	r.waitHeader(t, fmt.Sprintf("x-ext-%d", n), "v0", time.Duration(60+n/50)*time.Second)
	live := time.Since(start)
	startupLog := r.out.Len()
	envoys := envoyChildren(r.cmd.Process.Pid)
	if len(envoys) != 1 {
		t.Fatalf("envoy children = %v", envoys)
	}

	// Envoy logs each extension it loads (run sets dynamic_modules:info): the second load of
	// ext-1 is the moment the edit reached Envoy (polling its stats is slow with 10,000).
	loaded := `loaded lua extension "extensions.istio.io/trafficextension/istio-system.ext-1" generation`
	if c := strings.Count(r.out.String(), loaded); c != 1 {
		t.Fatalf("ext-1 loaded %d times before the edit", c)
	}
	edit := time.Now()
	writeFile(t, filepath.Join(dir, "ext-1.yaml"), luaExtension("ext-1", "x-ext-1", "v1"))
	var toEnvoy time.Duration
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if strings.Count(r.out.String(), loaded) >= 2 {
			toEnvoy = time.Since(edit)
			break
		}
	}
	if toEnvoy == 0 {
		t.Fatal("the edit of ext-1 did not reach Envoy within 30s")
	}
	reload := "extension_config_discovery.http_filter.extensions.istio.io/trafficextension/istio-system.ext-1.config_reload"
	if got := stat(t, p.admin, reload); got != 2 {
		t.Errorf("%s = %d after the edit, want 2", reload, got)
	}
	r.waitHeader(t, "x-ext-1", "v1", 30*time.Second)
	toResponse := time.Since(edit)
	time.Sleep(time.Second)
	editLog := r.out.Len() - startupLog

	t.Logf("%d extensions: live after %v; one edit reached Envoy after %v (in responses after %v); RSS envoy %d MiB, trafficext %d MiB; log %d bytes until live, %d bytes for the edit",
		n, live.Round(time.Millisecond), toEnvoy.Round(time.Millisecond), toResponse.Round(time.Millisecond),
		rssMiB(envoys[0]), rssMiB(r.cmd.Process.Pid), startupLog, editLog)
	// Bounds for a shared machine; the numbers above are what to compare.
	if toEnvoy > 10*time.Second {
		t.Errorf("one edit took %v to reach Envoy", toEnvoy)
	}
	// At info Envoy logs one line per extension loaded (~250 bytes); our control plane a few
	// lines per push.
	if limit := 1000*n + 200<<10; startupLog > limit {
		t.Errorf("%d bytes of log for %d extensions (limit %d): not proportional", startupLog, n, limit)
	}
	if editLog > 16<<10 {
		t.Errorf("%d bytes of log for a one-extension edit", editLog)
	}
}

func stat(t *testing.T, adminPort int, name string) int {
	body := httpBody(t, fmt.Sprintf("http://127.0.0.1:%d/stats?filter=^%s$", adminPort, strings.ReplaceAll(name, ".", `\.`)))
	_, v, ok := strings.Cut(strings.TrimSpace(body), ": ")
	if !ok {
		return 0
	}
	n, _ := strconv.Atoi(v)
	return n
}

// rssMiB is a process's resident set size (0 when unknown).
func rssMiB(pid int) int {
	n, _ := envoyproc.RSS(pid)
	return int(n >> 20)
}
