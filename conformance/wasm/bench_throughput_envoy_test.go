//go:build conformance

package wasm_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trafficext/trafficext/engine/wasm/wasmtest"
)

// TestEnvoy_WasmThroughput is the quick "throughput only" cut of TestEnvoy_WasmBenchmark:
// req/s and latency of chosen guests on chosen hosts, side by side in one run. It runs only
// with TRAFFICEXT_WASM_TPUT=1; the other variables narrow it:
//
//	TRAFFICEXT_WASM_TPUT_GUESTS  headers,hashparity (default headers)
//	TRAFFICEXT_WASM_TPUT_HOSTS   v8,ours,ours-nodeadline (default v8,ours-nodeadline); a host
//	                             may add Envoy environment variables: ours+GOMAXPROCS=4
//	TRAFFICEXT_WASM_TPUT_CONNS   1,16 (default)
//	TRAFFICEXT_WASM_TPUT_CONC    Envoy --concurrency (default 2)
//	TRAFFICEXT_WASM_TPUT_SECS    seconds per cell (default 8)
//	TRAFFICEXT_WASM_TPUT_THREADS set: also log Envoy's CPU time per thread in each cell
//	TRAFFICEXT_WASM_TPUT_PERF    a directory: Envoy is profiled (`perf record -g`) during every
//	                             cell into <guest>-<host>-<conns>.data there; with
//	                             TRAFFICEXT_WASM_TPUT_PERF_FLAT set, without call graphs
//
// "Envoy CPU/req" is the CPU time (user + system, all threads) Envoy spent per answered
// request during the cell: unlike req/s it does not depend on how much of the shared
// machine the load generator got.
func TestEnvoy_WasmThroughput(t *testing.T) {
	if os.Getenv("TRAFFICEXT_WASM_TPUT") == "" {
		t.Skip("set TRAFFICEXT_WASM_TPUT=1 to run the throughput benchmark")
	}
	requireEnvoy(t)
	list := func(name, def string) []string {
		v := os.Getenv(name)
		if v == "" {
			v = def
		}
		return strings.Split(v, ",")
	}
	num := func(name string, def int) int {
		n, err := strconv.Atoi(os.Getenv(name))
		if err != nil || n <= 0 {
			return def
		}
		return n
	}
	conc := num("TRAFFICEXT_WASM_TPUT_CONC", 2)
	secs := time.Duration(num("TRAFFICEXT_WASM_TPUT_SECS", 8)) * time.Second
	perfDir := os.Getenv("TRAFFICEXT_WASM_TPUT_PERF")
	var conns []int
	for _, c := range list("TRAFFICEXT_WASM_TPUT_CONNS", "1,16") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n <= 0 {
			t.Fatalf("TRAFFICEXT_WASM_TPUT_CONNS: bad count %q", c)
		}
		conns = append(conns, n)
	}
	up := upstream(t)
	var out strings.Builder
	fmt.Fprintf(&out, "\n#### Throughput and latency, --concurrency %d, %v per cell\n\n", conc, secs)
	fmt.Fprintf(&out, "| guest | host | conns | req/s | p50 | p99 | Envoy CPU/req | errors |\n|---|---|--:|--:|--:|--:|--:|--:|\n")
	for _, guest := range list("TRAFFICEXT_WASM_TPUT_GUESTS", "headers") {
		g := wasmtest.Go(t, strings.TrimSpace(guest))
		for _, kind := range list("TRAFFICEXT_WASM_TPUT_HOSTS", "v8,ours-nodeadline") {
			// A host may carry Envoy environment variables: ours-nodeadline+GOMAXPROCS=4.
			kind, extra, _ := strings.Cut(strings.TrimSpace(kind), "+")
			var env []string
			if extra != "" {
				env = strings.Split(extra, "+")
			}
			port, pid, stop := benchEnvoy(t, kind, g, conc, up, 10*time.Minute, env...)
			for _, n := range conns {
				load(t, port, n, time.Second) // warm-up
				var perf *exec.Cmd
				if perfDir != "" {
					file := filepath.Join(perfDir, fmt.Sprintf("%s-%s-%d.data", guest, kind, n))
					args := []string{"record", "-q", "-o", file, "-p", strconv.Itoa(pid)}
					if os.Getenv("TRAFFICEXT_WASM_TPUT_PERF_FLAT") == "" {
						args = append(args, "-g")
					}
					perf = exec.Command("perf", args...)
					if err := perf.Start(); err != nil {
						t.Fatalf("starting perf: %v", err)
					}
				}
				cpu0, threads0 := cpuTime(t, pid), threadTimes(pid)
				r := load(t, port, n, secs)
				cpu := cpuTime(t, pid) - cpu0
				if os.Getenv("TRAFFICEXT_WASM_TPUT_THREADS") != "" {
					t.Logf("%s %s %d conns: CPU by thread: %s", guest, kind, n, threadDelta(threads0, threadTimes(pid)))
				}
				if perf != nil {
					perf.Process.Signal(os.Interrupt)
					perf.Wait()
				}
				perReq := time.Duration(0)
				if r.rps > 0 {
					perReq = (cpu / time.Duration(r.rps*secs.Seconds())).Round(100 * time.Nanosecond)
				}
				fmt.Fprintf(&out, "| %s | %s | %d | %.0f | %v | %v | %v | %d |\n", guest, hostName(kind)+envNote(env), n, r.rps, r.p50, r.p99, perReq, r.errors)
				if perf != nil {
					t.Logf("%s %s %d conns: %d requests profiled", guest, kind, n, int(r.rps*secs.Seconds()))
				}
			}
			stop()
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Fprintf(&out, "\nload average after the run: %s", b)
	}
	t.Log(out.String())
}

// threadTimes is the CPU time of every thread of process pid, by "tid comm".
func threadTimes(pid int) map[string]time.Duration {
	out := map[string]time.Duration{}
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		f := strings.Fields(s[end+1:])
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		out[e.Name()+" "+s[open+1:end]] = time.Duration(ut+st) * time.Second / clockTicks
	}
	return out
}

// threadDelta lists the threads that used CPU between two threadTimes, busiest first.
func threadDelta(before, after map[string]time.Duration) string {
	type th struct {
		name string
		d    time.Duration
	}
	var ts []th
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			ts = append(ts, th{k, d})
		}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].d > ts[j].d })
	var b strings.Builder
	for _, x := range ts {
		fmt.Fprintf(&b, "[%s %v] ", x.name, x.d)
	}
	return b.String()
}

// cpuTime is the CPU time (user + system) process pid has used so far.
func cpuTime(t *testing.T, pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name (which may hold spaces) start at the last ')'.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	// utime and stime are fields 14 and 15 of proc(5), 12 and 13 after the name.
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clockTicks
}

// clockTicks is sysconf(_SC_CLK_TCK), 100 on Linux.
const clockTicks = 100

func envNote(env []string) string {
	if len(env) == 0 {
		return ""
	}
	return ", " + strings.Join(env, " ")
}
