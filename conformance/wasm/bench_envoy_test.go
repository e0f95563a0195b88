//go:build conformance

package wasm_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trafficext/trafficext/core"
	"github.com/trafficext/trafficext/engine/wasm"
	"github.com/trafficext/trafficext/engine/wasm/wasmtest"
	"github.com/trafficext/trafficext/extconfig"
)

// TestEnvoy_WasmBenchmark compares our host with Envoy's V8 in the same Envoy binary: RSS at
// --concurrency 1/2/4/8/16 for the hashparity guest (Istio's table method) against Envoy with
// no filter, with a warm and a cold compilation cache and where our part goes, throughput and
// latency at 1 and 16 connections for the headers and WAF guests, and VM cold start with a
// warm compilation cache. It is slow, so it runs only with TRAFFICEXT_WASM_BENCH=1; it prints
// Markdown tables (docs/wasm-compatibility.md records a run).
func TestEnvoy_WasmBenchmark(t *testing.T) {
	if os.Getenv("TRAFFICEXT_WASM_BENCH") == "" {
		t.Skip("set TRAFFICEXT_WASM_BENCH=1 to run the Wasm benchmark")
	}
	requireEnvoy(t)
	hash := wasmtest.Go(t, "hashparity")
	headers := wasmtest.Go(t, "headers")
	var waf wasmtest.Guest
	if os.Getenv("TRAFFICEXT_WASM_BENCH_WAF") != "" {
		waf = wasmtest.WAF(t)
	}
	up := upstream(t)
	var out strings.Builder
	parts := os.Getenv("TRAFFICEXT_WASM_BENCH") // "1" or a list of rss,tput,cold
	want := func(p string) bool { return parts == "1" || strings.Contains(parts, p) }

	if want("rss") {
		benchRSS(t, &out, hash, up)
	}

	if want("tput") {
		fmt.Fprintf(&out, "\n#### Throughput and latency, --concurrency 2, 8 s per cell\n\n")
		fmt.Fprintf(&out, "| guest | host | conns | req/s | p50 | p99 | errors |\n|---|---|--:|--:|--:|--:|--:|\n")
		guests := []struct {
			name string
			g    wasmtest.Guest
		}{{"headers", headers}}
		if waf.Path != "" {
			guests = append(guests, struct {
				name string
				g    wasmtest.Guest
			}{"coraza WAF", waf})
		}
		for _, g := range guests {
			for _, kind := range []string{"v8", "ours", "ours-nodeadline"} {
				if kind == "v8" && g.g.Path == waf.Path {
					// V8 in Envoy 1.36.2 cannot load this module (see TestEnvoy_CorazaWAF).
					continue
				}
				port, _, stop := benchEnvoy(t, kind, g.g, 2, up, 5*time.Minute)
				for _, conns := range []int{1, 16} {
					load(t, port, conns, time.Second) // warm-up
					r := load(t, port, conns, 8*time.Second)
					fmt.Fprintf(&out, "| %s | %s | %d | %.0f | %v | %v | %d |\n", g.name, hostName(kind), conns, r.rps, r.p50, r.p99, r.errors)
				}
				stop()
			}
		}
	}

	if want("cold") {
		fmt.Fprintf(&out, "\n#### VM cold start with a warm compilation cache (in-process, new engine each time)\n\n| guest | compile (cache hit) + instantiate + vm_start + configure |\n|---|--:|\n")
		cold := []struct {
			name string
			g    wasmtest.Guest
		}{{"headers (Go SDK, 2.7 MB)", headers}, {"hashparity (Go SDK)", hash}}
		if waf.Path != "" {
			cold = append(cold, struct {
				name string
				g    wasmtest.Guest
			}{"coraza WAF + CRS (31 MB)", waf})
		}
		for _, c := range cold {
			// First load warms the on-disk cache; the second engine measures.
			coldLoad(t, c.g)
			fmt.Fprintf(&out, "| %s | %v |\n", c.name, coldLoad(t, c.g).Round(time.Millisecond))
		}
	}
	t.Log(out.String())
	if f := os.Getenv("TRAFFICEXT_WASM_BENCH_OUT"); f != "" {
		os.WriteFile(f, []byte(out.String()), 0o644)
	}
}

func hostName(kind string) string {
	switch kind {
	case "ours":
		return "trafficext (wazero)"
	case "ours-nodeadline":
		return "trafficext (wazero), TRAFFICEXT_WASM_CALL_TIMEOUT=off"
	}
	return "V8"
}

type quietHost struct{}

func (quietHost) DefineCounter(string) (core.MetricID, error)   { return 1, nil }
func (quietHost) DefineGauge(string) (core.MetricID, error)     { return 1, nil }
func (quietHost) DefineHistogram(string) (core.MetricID, error) { return 1, nil }
func (quietHost) Log(core.LogLevel, string)                     {}

func coldLoad(t *testing.T, g wasmtest.Guest) time.Duration {
	e := wasm.New(wasm.Options{})
	start := time.Now()
	p, err := e.Load(&extconfig.Extension{Schema: 1, Name: "bench", Wasm: &extconfig.Wasm{Path: g.Path, SHA256: g.SHA256}}, quietHost{})
	d := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	return d
}

// benchEnvoy starts an Envoy whose only listener runs g on our host ("ours"), on V8 ("v8"),
// or no filter ("none"); env adds variables of the Envoy process.
func benchEnvoy(t *testing.T, kind string, g wasmtest.Guest, conc, up int, limit time.Duration, env ...string) (port, pid int, stop func()) {
	adminPort := freePort(t)
	port = freePort(t)
	name := "extensions.istio.io/trafficextension/ns.bench"
	var filters []any
	switch kind {
	case "ours-nodeadline":
		env = append(env, "TRAFFICEXT_WASM_CALL_TIMEOUT=off")
		filters = []any{map[string]any{"name": name, "typed_config": ourFilter(t, name, plug{guest: g})}}
	case "ours":
		filters = []any{map[string]any{"name": name, "typed_config": ourFilter(t, name, plug{guest: g})}}
	case "v8":
		filters = []any{map[string]any{"name": "v8", "typed_config": v8Filter(name, plug{guest: g})}}
	}
	l := map[string]any{"name": "bench", "address": addr(port), "filter_chains": []any{map[string]any{"filters": []any{hcm("bench", filters)}}}}
	releasePorts()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	p, err := startProcess(ctx, bootstrap(t, []any{l}, adminPort, up), adminPort, conc, env...)
	if err != nil {
		t.Fatal(err)
	}
	return port, p.Pid(), p.Stop
}

type loadResult struct {
	rps      float64
	p50, p99 time.Duration
	errors   int
}

// load runs a closed loop on conns keep-alive connections for d.
func load(t *testing.T, port, conns int, d time.Duration) loadResult {
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}}
			defer client.CloseIdleConnections()
			var mine []time.Duration
			bad := 0
			for i := 0; time.Now().Before(deadline); i++ {
				req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/bench", port), nil)
				req.Header.Set("x-number", strconv.Itoa(c*1000000+i))
				start := time.Now()
				res, err := client.Do(req)
				if err != nil {
					bad++
					continue
				}
				var buf [512]byte
				for {
					if _, err := res.Body.Read(buf[:]); err != nil {
						break
					}
				}
				res.Body.Close()
				mine = append(mine, time.Since(start))
				if res.StatusCode != 200 && res.StatusCode != 500 {
					bad++
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
			mu.Unlock()
		}(c)
	}
	wg.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	r := loadResult{rps: float64(len(lat)) / d.Seconds(), errors: errs}
	if len(lat) > 0 {
		r.p50 = lat[len(lat)/2].Round(time.Microsecond)
		r.p99 = lat[len(lat)*99/100].Round(time.Microsecond)
	}
	return r
}

// benchRSS writes the RSS tables: VmRSS by --concurrency for Envoy with no filter (the
// baseline: Envoy's own memory), V8 and our host, with a warm compilation cache (the module
// compiled by an earlier Envoy into the cache directory, as after a restart or for a second
// plugin) and a cold one (an empty directory: the module is compiled while the configuration
// loads); then where our host's part of the warm case goes.
func benchRSS(t *testing.T, out io.Writer, g wasmtest.Guest, up int) {
	// Envoy spreads connections over its workers (SO_REUSEPORT), so 8 per worker make sure every
	// worker has run the plugin (16 connections on 16 workers leave about a third idle).
	const perWorker, minConns, run = 8, 16, 2 * time.Second
	loadBefore := loadAvg()
	warm := "TRAFFICEXT_WASM_CACHE_DIR=" + t.TempDir()
	_, _, stop := benchEnvoy(t, "ours", g, 1, up, 2*time.Minute, warm) // fills the warm cache
	stop()
	measure := func(kind string, conc int, env ...string) rssSample {
		port, pid, stop := benchEnvoy(t, kind, g, conc, up, 2*time.Minute, env...)
		defer stop()
		load(t, port, max(minConns, perWorker*conc), run)
		return readRSS(t, pid)
	}
	type row struct {
		conc                 int
		none, v8, ours, cold rssSample
	}
	var rows []row
	for _, conc := range []int{1, 2, 4, 8, 16} {
		rows = append(rows, row{
			conc: conc,
			none: measure("none", conc),
			v8:   measure("v8", conc),
			ours: measure("ours", conc, warm),
			cold: measure("ours", conc, "TRAFFICEXT_WASM_CACHE_DIR="+t.TempDir()),
		})
	}
	fmt.Fprintf(out, "\n#### RSS (MiB) by --concurrency, hashparity guest, after %d connections per worker (at least %d) ran %v\n\n", perWorker, minConns, run)
	fmt.Fprintf(out, "VmRSS of the Envoy process. Baseline: the same Envoy with no HTTP filter but the router. "+
		"Warm: the compilation cache holds the module (compiled by an earlier Envoy); cold: an empty cache "+
		"directory, so the module is compiled while the configuration loads. Machine: %d CPUs, load average "+
		"(1/5/15 min) %s before, %s after.\n\n", goruntime.NumCPU(), loadBefore, loadAvg())
	fmt.Fprintf(out, "| --concurrency | baseline (no filter) | V8 | trafficext, warm cache | trafficext, cold cache | trafficext (warm) / V8 | added over baseline: trafficext (warm) / V8 |\n|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range rows {
		fmt.Fprintf(out, "| %d | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f |\n", r.conc, r.none.vmRSS, r.v8.vmRSS, r.ours.vmRSS, r.cold.vmRSS,
			r.ours.vmRSS/r.v8.vmRSS, (r.ours.vmRSS-r.none.vmRSS)/(r.v8.vmRSS-r.none.vmRSS))
	}
	fmt.Fprintf(out, "\n#### Where trafficext's memory goes (warm cache, MiB, from /proc/<pid>/status and smaps)\n\n")
	fmt.Fprintf(out, "VmRSS over the baseline = file pages over the baseline (libtrafficext.so's code and read-only data) "+
		"+ wazero's machine code + the guests' linear memories + other anonymous memory (the Go heap and runtime, "+
		"the module's data, Envoy's per-filter state).\n\n")
	fmt.Fprintf(out, "| --concurrency | VmRSS over baseline | file pages | wazero machine code | guest linear memories | other anonymous |\n|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range rows {
		o := r.ours
		fmt.Fprintf(out, "| %d | %.1f | %.1f | %.1f | %.1f (%d VMs) | %.1f |\n", r.conc, o.vmRSS-r.none.vmRSS, o.file-r.none.file,
			o.code, o.memories, o.vms, o.anon-r.none.anon-o.code-o.memories)
	}
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// rssSample is the memory of one Envoy process, in MiB.
type rssSample struct {
	vmRSS, anon, file float64
	// code: anonymous executable mappings (wazero's machine code; V8's code space); memories:
	// our guests' linear memories, vms of them.
	code, memories float64
	vms            int
}

// readRSS reads VmRSS, RssAnon and RssFile from /proc/<pid>/status and splits smaps. A linear
// memory of our host is an anonymous mapping reserved at the memory limit (memory_linux.go):
// an rw-p part (the pages grown so far) directly followed by the ---p rest, together
// wasm.DefaultMemoryPages pages.
func readRSS(t *testing.T, pid int) rssSample {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	var s rssSample
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[0], 64)
		switch k {
		case "VmRSS":
			s.vmRSS = kb / 1024
		case "RssAnon":
			s.anon = kb / 1024
		case "RssFile":
			s.file = kb / 1024
		}
	}
	b, err = os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		t.Fatal(err)
	}
	type vma struct {
		lo, hi      uint64
		perms, path string
		rssKB       float64
	}
	var vmas []vma
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 5 && strings.Count(f[0], "-") == 1 && !strings.HasSuffix(f[0], ":") {
			lo, hi, _ := strings.Cut(f[0], "-")
			v := vma{perms: f[1]}
			v.lo, _ = strconv.ParseUint(lo, 16, 64)
			v.hi, _ = strconv.ParseUint(hi, 16, 64)
			if len(f) >= 6 {
				v.path = f[5]
			}
			vmas = append(vmas, v)
		} else if len(f) >= 2 && f[0] == "Rss:" && len(vmas) > 0 {
			vmas[len(vmas)-1].rssKB, _ = strconv.ParseFloat(f[1], 64)
		}
	}
	const reserved = uint64(wasm.DefaultMemoryPages) * 65536
	for i, v := range vmas {
		switch {
		case v.path == "" && strings.Contains(v.perms, "x"):
			s.code += v.rssKB / 1024
		case v.path == "" && v.perms == "rw-p" && i+1 < len(vmas) && vmas[i+1].path == "" && vmas[i+1].perms == "---p" &&
			vmas[i+1].lo == v.hi && vmas[i+1].hi-v.lo == reserved:
			s.memories += v.rssKB / 1024
			s.vms++
		}
	}
	return s
}
