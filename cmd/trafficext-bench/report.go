package main

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

func fmtDur(d time.Duration) string {
	us := float64(d) / float64(time.Microsecond)
	switch {
	case us >= 10000:
		return fmt.Sprintf("%.1f ms", us/1000)
	case us >= 100:
		return fmt.Sprintf("%.0f µs", us)
	default:
		return fmt.Sprintf("%.1f µs", us)
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }

func ratio(a, b float64) string {
	if b == 0 || a == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// agg is one (configuration, connection count) over all rounds.
type agg struct {
	Config benchConfig
	Conns  int
	Cells  []*cell // successful rounds
	Rep    *cell   // the median round by req/s
}

func (a *agg) spread() (lo, hi float64) {
	for i, c := range a.Cells {
		t := c.Res.Throughput()
		if i == 0 || t < lo {
			lo = t
		}
		if i == 0 || t > hi {
			hi = t
		}
	}
	return lo, hi
}

func aggregate(r *report) []*agg {
	var out []*agg
	for _, c := range r.Opts.configs {
		for _, n := range r.Opts.conns {
			a := &agg{Config: c, Conns: n}
			for _, cr := range r.Runs {
				if cr.Config.Key != c.Key || cr.Err != nil {
					continue
				}
				for _, cl := range cr.Cells {
					if cl.Conns == n && cl.Err == nil {
						a.Cells = append(a.Cells, cl)
					}
				}
			}
			if len(a.Cells) > 0 {
				sorted := slices.Clone(a.Cells)
				slices.SortFunc(sorted, func(x, y *cell) int { return cmp.Compare(x.Res.Throughput(), y.Res.Throughput()) })
				a.Rep = sorted[(len(sorted)-1)/2]
			}
			out = append(out, a)
		}
	}
	return out
}

// renderReport is the markdown of one run: results, ratios, failures.
func renderReport(r *report) string {
	var b strings.Builder
	o := r.Opts
	fmt.Fprintf(&b, "### Results\n\n")
	fmt.Fprintf(&b, "Envoy `%s`, `--concurrency %d`; %v measured per cell after %v warm-up; HTTP/1.1 keep-alive, closed loop",
		r.EnvoyVersion, o.concurrency, o.duration, o.warmup)
	if o.rounds > 1 {
		fmt.Fprintf(&b, "; %d rounds (configurations alternate), each cell shows its median round by req/s and the req/s range over rounds", o.rounds)
	}
	b.WriteString(".\n\n")
	b.WriteString("| configuration | conns | req/s |")
	if o.rounds > 1 {
		b.WriteString(" req/s range |")
	}
	b.WriteString(" p50 | p99 | p99.9 | max | errors / checked | Envoy CPU per req | Envoy CPU (cores) | bench CPU (cores) | other CPU (cores) | conns per worker | Envoy RSS MiB (warm → end) |\n|---|--:|--:|")
	if o.rounds > 1 {
		b.WriteString("--:|")
	}
	b.WriteString("--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	aggs := aggregate(r)
	for _, a := range aggs {
		c := a.Rep
		if c == nil {
			fmt.Fprintf(&b, "| %s | %d | **failed** (see below) |\n", a.Config.Label, a.Conns)
			continue
		}
		h := c.Res.Latency
		secs := c.Res.Window.Seconds()
		fmt.Fprintf(&b, "| %s | %d | %.0f |", a.Config.Label, a.Conns, c.Res.Throughput())
		if o.rounds > 1 {
			lo, hi := a.spread()
			fmt.Fprintf(&b, " %.0f–%.0f |", lo, hi)
		}
		var errs, checked uint64
		for _, x := range a.Cells {
			errs += x.Res.Errors
			checked += x.Res.Checked
		}
		other := c.MachineBusy*float64(r.Machine.NumCPU) - c.EnvoyCPU.Seconds()/secs - c.BenchCPU.Seconds()/secs
		fmt.Fprintf(&b, " %s | %s | %s | %s | %d / %d | %s | %.2f | %.2f | %.2f | %s | %s → %s |\n",
			fmtDur(h.Percentile(0.5)), fmtDur(h.Percentile(0.99)), fmtDur(h.Percentile(0.999)), fmtDur(h.Max()),
			errs, checked, fmtDur(c.EnvoyCPUPerReq()),
			c.EnvoyCPU.Seconds()/secs, c.BenchCPU.Seconds()/secs, max(other, 0), c.Workers, mib(c.RSSWarm), mib(c.RSSEnd))
	}
	b.WriteString("\n")

	find := func(key string, conns int) *cell {
		for _, a := range aggs {
			if a.Config.Key == key && a.Conns == conns {
				return a.Rep
			}
		}
		return nil
	}
	type metric struct {
		name string
		f    func(*cell) float64
	}
	metrics := []metric{
		{"req/s", func(c *cell) float64 { return c.Res.Throughput() }},
		{"p50", func(c *cell) float64 { return float64(c.Res.Latency.Percentile(0.5)) }},
		{"p99", func(c *cell) float64 { return float64(c.Res.Latency.Percentile(0.99)) }},
		{"Envoy CPU per req", func(c *cell) float64 { return float64(c.EnvoyCPUPerReq()) }},
		{"Envoy RSS at end", func(c *cell) float64 { return float64(c.RSSEnd) }},
	}
	val := func(c *cell, m metric) float64 {
		if c == nil {
			return 0
		}
		return m.f(c)
	}
	b.WriteString("### Ratios (same run)\n\n")
	b.WriteString("| conns | metric | native / none | ours / none | **ours / native** |\n|--:|---|--:|--:|--:|\n")
	for _, n := range o.conns {
		none, lua, ours := find("none", n), find("lua", n), find("trafficext", n)
		for _, m := range metrics {
			r1, r2, r3 := ratio(val(lua, m), val(none, m)), ratio(val(ours, m), val(none, m)), ratio(val(ours, m), val(lua, m))
			if r1 == "n/a" && r2 == "n/a" && r3 == "n/a" {
				continue
			}
			fmt.Fprintf(&b, "| %d | %s | %s | %s | **%s** |\n", n, m.name, r1, r2, r3)
		}
	}
	if hasConfig(o, "floor") {
		// The floor's absolute overhead over (a) is the binding's fixed cost per request; the
		// last column is how much of (c)'s overhead that fixed cost is.
		b.WriteString("\n### Passthrough floor (same run)\n\n")
		b.WriteString("| conns | metric | (a) none | (d) floor | floor / none | floor − none | (c) − none |\n|--:|---|--:|--:|--:|--:|--:|\n")
		for _, n := range o.conns {
			none, floor, ours := find("none", n), find("floor", n), find("trafficext", n)
			if none == nil || floor == nil {
				continue
			}
			for _, m := range metrics[:4] {
				a, d := val(none, m), val(floor, m)
				diff := func(x float64) string {
					if m.name == "req/s" {
						return fmt.Sprintf("%+.0f", x)
					}
					return fmt.Sprintf("%+.1f µs", x/1e3)
				}
				cDiff := "n/a"
				if ours != nil {
					cDiff = diff(val(ours, m) - a)
				}
				show := func(x float64) string {
					if m.name == "req/s" {
						return fmt.Sprintf("%.0f", x)
					}
					return fmt.Sprintf("%.1f µs", x/1e3)
				}
				fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s |\n", n, m.name, show(a), show(d), ratio(d, a), diff(d-a), cDiff)
			}
		}
	}
	b.WriteString("\nFor req/s higher is better; for the others lower is better. " +
		"*Envoy CPU per req* is Envoy's user+system CPU over the window divided by the requests; " +
		"*other CPU* is machine-wide busy time not accounted to Envoy or to this process (other load on the machine, kernel softirq work).\n")

	// Failures and errors.
	var issues strings.Builder
	for _, cr := range r.Runs {
		label := cr.Config.Label
		if o.rounds > 1 {
			label += fmt.Sprintf(" (round %d)", cr.Round+1)
		}
		if cr.Err != nil {
			msg, log, _ := strings.Cut(cr.Err.Error(), "\n")
			fmt.Fprintf(&issues, "- **%s** could not be measured: %s\n", label, mdEscape(msg))
			if log = strings.TrimSpace(log); log != "" && cr.Log == "" {
				cr.Log = strings.TrimSpace(strings.TrimPrefix(log, "--- envoy log (tail) ---"))
			}
		}
		for _, c := range cr.Cells {
			if c.Err != nil {
				fmt.Fprintf(&issues, "- **%s**, %d conns failed: %s\n", label, c.Conns, mdEscape(c.Err.Error()))
			} else if c.Res.Errors > 0 {
				fmt.Fprintf(&issues, "- %s, %d conns: %d errors: %s\n", label, c.Conns, c.Res.Errors, mdEscape(c.Res.ErrorSummary()))
			}
		}
		if cr.Stats != "" {
			fmt.Fprintf(&issues, "- %s: non-zero Envoy error counters: `%s`\n", label, cr.Stats)
		}
		if cr.Log != "" {
			fmt.Fprintf(&issues, "\n  Envoy log tail (%s):\n\n  ```\n%s\n  ```\n\n", cr.Config.Key, indent(cr.Log, "  "))
		}
	}
	if issues.Len() > 0 {
		b.WriteString("\n### Failures and errors\n\n")
		b.WriteString(issues.String())
	} else {
		b.WriteString("\nEvery response was checked (status 200; `x-parity` right for (b) and (c), absent for (a) and (d)): no errors.\n")
	}
	return b.String()
}

func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

func indent(s, p string) string {
	return p + strings.ReplaceAll(s, "\n", "\n"+p)
}

const (
	beginGenerated = "<!-- BEGIN GENERATED by trafficext-bench --write: do not edit by hand -->"
	endGenerated   = "<!-- END GENERATED -->"
)

// renderDoc returns docs/benchmarks.md: the generated block (run metadata and results) is
// replaced between its markers, so that hand-written analysis around it survives reruns; a
// missing or unmarked file gets the full default document.
func renderDoc(r *report, results string) string {
	m := r.Machine
	var g strings.Builder
	g.WriteString(beginGenerated + "\n\n")
	fmt.Fprintf(&g, "## Latest run\n\n")
	fmt.Fprintf(&g, "- Date: %s\n", r.Date.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&g, "- Machine: %d CPUs (`nproc`), %s, %s RAM, Linux %s (%s)\n", m.NumCPU, m.CPUModel, m.MemTotal, m.Kernel, m.OS)
	fmt.Fprintf(&g, "- Envoy: `%s` (same binary for all configurations), `--concurrency %d`\n", r.EnvoyVersion, r.Opts.concurrency)
	fmt.Fprintf(&g, "- Load generator, upstream and Envoy share the machine; nothing is pinned. Built with %s.\n", r.GoVersion)
	fmt.Fprintf(&g, "- Command (from the module root; `ENVOY_BIN` or `make envoy` provides Envoy):\n\n  ```sh\n  %s\n  ```\n\n", r.Command)
	fmt.Fprintf(&g, "- Whole run: %v\n\n", r.Elapsed.Round(time.Second))
	g.WriteString(results)
	g.WriteString("\n" + endGenerated + "\n")

	if old, err := os.ReadFile(r.DocPath); err == nil {
		s := string(old)
		i, j := strings.Index(s, beginGenerated), strings.Index(s, endGenerated)
		if i >= 0 && j > i {
			return s[:i] + g.String() + s[j+len(endGenerated)+1:]
		}
	}
	return docHeader + g.String() + docFooter
}

const docHeader = `# Benchmarks

How much does running a TrafficExtension's Lua in trafficext (gopher-lua inside an Envoy
dynamic module) cost compared with Envoy's own Lua filter (LuaJIT) and with no extension at all?

` + "`cmd/trafficext-bench`" + ` answers that in one run. It starts the **same Envoy binary** three
times, one after another, on loopback with a static bootstrap (one HTTP listener, one route to
one upstream cluster):

| configuration | HTTP filters |
|---|---|
| (a) none | router only |
| (b) native | ` + "`envoy.filters.http.lua`" + ` with the parity script inline, router |
| (c) trafficext | our ` + "`DynamicModuleFilter`" + ` (` + "`libtrafficext.so`" + `) with the same script, router |

The parity script reads ` + "`x-number`" + ` on the request, stores ` + "`even`/`odd`" + ` in the
` + "`envoy.lua`" + ` dynamic metadata namespace, and on the response copies it into an
` + "`x-parity`" + ` header. Each configuration proxies to an in-process upstream that answers every
request with a fixed 3-byte body.

For every connection count, the built-in load generator opens N HTTP/1.1 keep-alive connections
and runs a closed loop on each (send ` + "`GET /`" + ` with ` + "`x-number: <i>`" + `, read the whole
response, send the next). Every response is checked: status 200, and ` + "`x-parity`" + ` equal to the
parity of i for (b) and (c), absent for (a). Latencies of requests started in the measured window
go into a log-linear histogram (128 sub-buckets per power of two, < 0.4 % error; min/max exact);
percentiles are nearest-rank. Envoy RSS is VmRSS from ` + "`/proc/<pid>/status`" + ` after the
warm-up and at the end of each cell; CPU is utime+stime of Envoy (` + "`/proc/<pid>/stat`" + `) and of
the benchmark process (load generator + upstream, ` + "`getrusage`" + `) over the measured window.

`

const docFooter = `
## Caveats

- The load generator and the upstream run on the same machine as Envoy and compete with its
  workers for the same cores; nothing is pinned. On a 2-CPU machine with ` + "`--concurrency 2`" + `,
  req/s is bounded by the whole machine, not by Envoy alone, so **Envoy CPU per request** is the
  most transferable number, and ratios between configurations of the same run are more
  meaningful than absolute values.
- Closed-loop load measures latency at the throughput the system sustains (no coordinated
  omission correction is needed because there is no target rate).
- Configurations run one after another; ` + "`--rounds N`" + ` repeats the whole matrix (configurations
  alternate) and reports each cell's median round and the req/s range, to expose run-to-run noise.
`

func hasConfig(o *options, key string) bool {
	for _, c := range o.configs {
		if c.Key == key {
			return true
		}
	}
	return false
}
