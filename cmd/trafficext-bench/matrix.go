package main

// The Lua matrix: three scripts × (none | native Lua | trafficext) ×
// connection counts × Envoy --concurrency, with Envoy RSS per concurrency, measured side by
// side in one run.
//
//	go run ./cmd/trafficext-bench --matrix [--scripts parity,headercount,basicauth]
//	    [--concurrencies 1,2,4,8,16] [--conns 1,4,16] [--configs none,lua,trafficext]
//	    [--duration 5s] [--warmup 1s] [--write]

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/trafficext/trafficext/cmd/trafficext-bench/internal/loadgen"
	"github.com/trafficext/trafficext/internal/envoyproc"
)

// HeaderCountScript counts the request and response headers and logs the counts (at info
// level, below Envoy's default log level, as a production logger would be).
const HeaderCountScript = `function envoy_on_request(request_handle)
  local n = 0
  for k, v in pairs(request_handle:headers()) do n = n + 1 end
  request_handle:logInfo("request headers: " .. n)
end
function envoy_on_response(response_handle)
  local n = 0
  for k, v in pairs(response_handle:headers()) do n = n + 1 end
  response_handle:logInfo("response headers: " .. n)
end
`

// BasicAuthScript checks authorization against one user (the load sends valid credentials).
const BasicAuthScript = `local expected = "Basic dXNlcjpwYXNz"
function envoy_on_request(request_handle)
  local auth = request_handle:headers():get("authorization")
  if auth ~= expected then
    request_handle:respond({[":status"] = "401", ["www-authenticate"] = 'Basic realm="bench"'}, "unauthorized")
    return
  end
  request_handle:headers():remove("authorization")
end
`

type matrixScript struct {
	Key, Label, Source string
	Parity             bool   // responses carry x-parity
	Header             string // extra request header of the load
}

var matrixScripts = []matrixScript{
	{Key: "parity", Label: "parity", Source: ParityScript, Parity: true},
	{Key: "headercount", Label: "header-count logger", Source: HeaderCountScript},
	{Key: "basicauth", Label: "basic auth", Source: BasicAuthScript, Header: "authorization: Basic dXNlcjpwYXNz"},
}

type matrixOptions struct {
	scripts       []matrixScript
	concurrencies []int
}

func parseMatrixFlags(scripts, concurrencies string) (*matrixOptions, error) {
	mo := &matrixOptions{}
	var err error
	if mo.scripts, err = pick(matrixScripts, func(m matrixScript) string { return m.Key }, scripts, "--scripts: unknown script %q (want parity, headercount, basicauth)"); err != nil {
		return nil, err
	}
	if mo.concurrencies, err = positiveInts(concurrencies, "--concurrencies"); err != nil {
		return nil, err
	}
	return mo, nil
}

// matrixCell is one measurement.
type matrixCell struct {
	Concurrency int
	Script      string // "" for none
	Config      string
	Conns       int
	ReqPerSec   float64
	P50, P99    time.Duration
	Errors      uint64
	CPUPerReq   time.Duration
	Err         error
}

// matrixRSS is Envoy's RSS for one (concurrency, script, config): at start (idle, after the
// preflight) and at the end of its load.
type matrixRSS struct {
	Concurrency         int
	Script, Config      string
	Idle, Loaded        int64
	ErrorStats, LogFile string
}

func scriptFilter(config string, s matrixScript) (map[string]any, error) {
	switch config {
	case "lua":
		return map[string]any{
			"name": "envoy.filters.http.lua",
			"typed_config": map[string]any{
				"@type":               "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
				"default_source_code": map[string]any{"inline_string": s.Source},
			},
		}, nil
	case "trafficext":
		return luaModuleFilter("extensions.istio.io/trafficextension/bench."+s.Key, s.Source)
	}
	return nil, nil
}

func runMatrix(o *options, mo *matrixOptions) error {
	t0 := time.Now()
	ctx, stop, _, version, err := preamble()
	if err != nil {
		return err
	}
	defer stop()
	for _, c := range o.configs {
		if c.Key == "trafficext" {
			dir, cleanup, err := moduleDir(o)
			if err != nil {
				return err
			}
			defer cleanup()
			os.Setenv("TRAFFICEXT_MODULE_DIR", dir)
		}
	}
	logDir, up, err := prepareRun(o.logDir, "trafficext-bench-matrix-")
	if err != nil {
		return err
	}
	defer up.Close()

	var cells []*matrixCell
	var rsss []*matrixRSS
	failed := false
	for _, conc := range mo.concurrencies {
		for _, cfg := range o.configs {
			scripts := mo.scripts
			if cfg.Key == "none" {
				scripts = []matrixScript{{Key: "", Label: "(no script)", Header: ""}}
			}
			for _, s := range scripts {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				r, cs, err := runMatrixEnvoy(ctx, o, conc, cfg.Key, s, up.Port(), logDir)
				if err != nil {
					failed = true
					fmt.Fprintf(os.Stderr, "concurrency %d %s %s: FAILED: %v\n", conc, cfg.Key, s.Key, err)
					continue
				}
				rsss = append(rsss, r)
				cells = append(cells, cs...)
				for _, c := range cs {
					failed = failed || c.Err != nil || c.Errors > 0
				}
			}
		}
	}
	md := renderMatrix(o, mo, cells, rsss, version, time.Since(t0))
	fmt.Print(md)
	if o.write {
		path, err := docPath(o)
		if err != nil {
			return err
		}
		old, _ := os.ReadFile(path)
		if err := os.WriteFile(path, []byte(spliceMatrix(string(old), md)), 0o644); err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "wrote", path)
	}
	if failed {
		fmt.Fprintln(os.Stderr, "Envoy logs kept in", logDir)
		return errors.New("some cells failed or saw errors (see the report)")
	}
	os.RemoveAll(logDir)
	return nil
}

func runMatrixEnvoy(ctx context.Context, o *options, conc int, config string, s matrixScript, upstreamPort int, logDir string) (*matrixRSS, []*matrixCell, error) {
	filter, err := scriptFilter(config, s)
	if err != nil {
		return nil, nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, nil, err
	}
	bs, err := bootstrap(ports[0], ports[1], upstreamPort, filter)
	if err != nil {
		return nil, nil, err
	}
	r := &matrixRSS{Concurrency: conc, Script: s.Key, Config: config,
		LogFile: filepath.Join(logDir, fmt.Sprintf("envoy-c%d-%s-%s.log", conc, config, s.Key))}
	logf, err := os.Create(r.LogFile)
	if err != nil {
		return nil, nil, err
	}
	defer logf.Close()
	fmt.Fprintf(os.Stderr, "concurrency %d, %s, %s: ", conc, config, s.Key)
	p, err := envoyproc.Start(ctx, envoyproc.Options{Bootstrap: bs, AdminPort: ports[1], Concurrency: conc, Log: logf})
	if err != nil {
		return nil, nil, err
	}
	defer p.Stop()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	if err := matrixPreflight(addr, s); err != nil {
		return nil, nil, fmt.Errorf("preflight: %w\n%s", err, tail(p.Log(), 20))
	}
	time.Sleep(200 * time.Millisecond)
	r.Idle, _ = rss(p.Pid())
	var cells []*matrixCell
	for _, n := range o.conns {
		c := &matrixCell{Concurrency: conc, Script: s.Key, Config: config, Conns: n}
		cells = append(cells, c)
		var cpu0 time.Duration
		res, err := loadgen.Run(loadgen.Config{Addr: addr, Conns: n, Warmup: o.warmup, Duration: o.duration,
			CheckParity: s.Parity && config != "none", Header: s.Header,
			OnMeasureStart: func() { cpu0, _ = procCPU(p.Pid()) }})
		cpu1, _ := procCPU(p.Pid())
		if err != nil {
			c.Err = err
			fmt.Fprintf(os.Stderr, "%d conns: %v; ", n, err)
			continue
		}
		c.ReqPerSec, c.Errors = res.Throughput(), res.Errors
		c.P50, c.P99 = res.Latency.Percentile(0.5), res.Latency.Percentile(0.99)
		if res.Requests > 0 {
			c.CPUPerReq = (cpu1 - cpu0) / time.Duration(res.Requests)
		}
		fmt.Fprintf(os.Stderr, "%d conns %.0f req/s; ", n, c.ReqPerSec)
	}
	fmt.Fprintln(os.Stderr)
	r.Loaded, _ = rss(p.Pid())
	r.ErrorStats = errorStats(p)
	return r, cells, nil
}

// matrixPreflight checks the script's answer once before loading.
func matrixPreflight(addr string, s matrixScript) error {
	req, _ := http.NewRequest("GET", "http://"+addr+"/preflight", nil)
	req.Header.Set("x-number", "7")
	if k, v, ok := strings.Cut(s.Header, ":"); ok {
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

const (
	beginMatrix = "<!-- BEGIN LUA MATRIX generated by trafficext-bench --matrix --write: do not edit by hand -->"
	endMatrix   = "<!-- END LUA MATRIX -->"
)

func spliceMatrix(doc, md string) string {
	block := beginMatrix + "\n\n" + md + "\n" + endMatrix + "\n"
	i, j := strings.Index(doc, beginMatrix), strings.Index(doc, endMatrix)
	if i >= 0 && j > i {
		return doc[:i] + block + doc[j+len(endMatrix)+1:]
	}
	return strings.TrimRight(doc, "\n") + "\n\n" + block
}

func renderMatrix(o *options, mo *matrixOptions, cells []*matrixCell, rsss []*matrixRSS, version string, elapsed time.Duration) string {
	var b strings.Builder
	m := readMachine()
	fmt.Fprintf(&b, "## Lua matrix (latest run)\n\n")
	fmt.Fprintf(&b, "- Date: %s; machine: %d CPUs, %s, Linux %s; Envoy `%s`; %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"),
		m.NumCPU, m.CPUModel, m.Kernel, version, runtime.Version())
	fmt.Fprintf(&b, "- Command: `%s`; whole run %v\n", reproduceCommand(o), elapsed.Round(time.Second))
	fmt.Fprintf(&b, "- Each cell: %v warm-up + %v measured, closed-loop HTTP/1.1 keep-alive; every response checked (200; x-parity for the parity script).\n\n", o.warmup, o.duration)

	find := func(conc int, script, config string, conns int) *matrixCell {
		for _, c := range cells {
			if c.Concurrency == conc && c.Script == script && c.Config == config && c.Conns == conns {
				return c
			}
		}
		return nil
	}
	cellText := func(c *matrixCell) string {
		switch {
		case c == nil:
			return "–"
		case c.Err != nil:
			return "error"
		}
		s := fmt.Sprintf("%.0f (%s/%s)", c.ReqPerSec, fmtDur(c.P50), fmtDur(c.P99))
		if c.Errors > 0 {
			s += fmt.Sprintf(" **%d errors**", c.Errors)
		}
		return s
	}
	labels := map[string]string{"none": "none", "lua": "native Lua", "trafficext": "trafficext"}
	for _, conc := range mo.concurrencies {
		fmt.Fprintf(&b, "### --concurrency %d: req/s (p50/p99)\n\n", conc)
		connsHeader(&b, "| script | config |", o.conns, " Envoy CPU/req (max conns) |")
		for _, cfg := range o.configs {
			scripts := mo.scripts
			if cfg.Key == "none" {
				scripts = []matrixScript{{Key: "", Label: "–"}}
			}
			for _, s := range scripts {
				fmt.Fprintf(&b, "| %s | %s |", s.Label, labels[cfg.Key])
				for _, n := range o.conns {
					fmt.Fprintf(&b, " %s |", cellText(find(conc, s.Key, cfg.Key, n)))
				}
				last := find(conc, s.Key, cfg.Key, o.conns[len(o.conns)-1])
				cpu := "–"
				if last != nil && last.Err == nil {
					cpu = fmtDur(last.CPUPerReq)
				}
				fmt.Fprintf(&b, " %s |\n", cpu)
			}
		}
		b.WriteString("\n")
	}

	// Ratios from the same run.
	b.WriteString("### trafficext / native Lua throughput (same run)\n\n")
	connsHeader(&b, "| concurrency | script |", o.conns, "")
	for _, conc := range mo.concurrencies {
		for _, s := range mo.scripts {
			fmt.Fprintf(&b, "| %d | %s |", conc, s.Label)
			for _, n := range o.conns {
				a, c := find(conc, s.Key, "trafficext", n), find(conc, s.Key, "lua", n)
				if a == nil || c == nil || a.Err != nil || c.Err != nil || c.ReqPerSec == 0 {
					b.WriteString(" – |")
					continue
				}
				fmt.Fprintf(&b, " %.2f |", a.ReqPerSec/c.ReqPerSec)
			}
			b.WriteString("\n")
		}
	}

	// RSS per concurrency (parity script, or the first one measured).
	b.WriteString("\n### Envoy RSS per --concurrency (MiB, idle after start / after the load)\n\n| concurrency | none |")
	rssScript := mo.scripts[0].Key
	for _, cfg := range o.configs {
		if cfg.Key != "none" {
			fmt.Fprintf(&b, " %s (%s) |", labels[cfg.Key], rssScript)
		}
	}
	b.WriteString("\n|---|---|")
	for _, cfg := range o.configs {
		if cfg.Key != "none" {
			b.WriteString("---|")
		}
	}
	b.WriteString("\n")
	rssOf := func(conc int, script, config string) *matrixRSS {
		for _, r := range rsss {
			if r.Concurrency == conc && r.Script == script && r.Config == config {
				return r
			}
		}
		return nil
	}
	mib := func(r *matrixRSS) string {
		if r == nil {
			return "–"
		}
		return fmt.Sprintf("%.1f / %.1f", float64(r.Idle)/(1<<20), float64(r.Loaded)/(1<<20))
	}
	for _, conc := range mo.concurrencies {
		fmt.Fprintf(&b, "| %d | %s |", conc, mib(rssOf(conc, "", "none")))
		for _, cfg := range o.configs {
			if cfg.Key != "none" {
				fmt.Fprintf(&b, " %s |", mib(rssOf(conc, rssScript, cfg.Key)))
			}
		}
		b.WriteString("\n")
	}
	// Growth per extra worker (least squares on the loaded RSS).
	if len(mo.concurrencies) > 1 {
		b.WriteString("\nRSS growth per extra worker (least-squares slope of the loaded RSS over --concurrency): ")
		var parts []string
		for _, cfg := range o.configs {
			script := rssScript
			if cfg.Key == "none" {
				script = ""
			}
			var xs, ys []float64
			for _, conc := range mo.concurrencies {
				if r := rssOf(conc, script, cfg.Key); r != nil {
					xs, ys = append(xs, float64(conc)), append(ys, float64(r.Loaded)/(1<<20))
				}
			}
			if len(xs) > 1 {
				parts = append(parts, fmt.Sprintf("%s %.2f MiB/worker", labels[cfg.Key], slope(xs, ys)))
			}
		}
		b.WriteString(strings.Join(parts, ", ") + ".\n")
	}
	var errs []string
	for _, r := range rsss {
		if r.ErrorStats != "" {
			errs = append(errs, fmt.Sprintf("concurrency %d %s %s: %s", r.Concurrency, r.Config, r.Script, r.ErrorStats))
		}
	}
	sort.Strings(errs)
	if len(errs) > 0 {
		b.WriteString("\nNon-zero error counters:\n\n- " + strings.Join(errs, "\n- ") + "\n")
	}
	return b.String()
}

func slope(xs, ys []float64) float64 {
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	mx /= float64(len(xs))
	my /= float64(len(ys))
	var num, den float64
	for i := range xs {
		num += (xs[i] - mx) * (ys[i] - my)
		den += (xs[i] - mx) * (xs[i] - mx)
	}
	if den == 0 {
		return 0
	}
	return num / den
}

// connsHeader writes a Markdown table header: two leading columns, one per connection
// count, and an optional last column.
func connsHeader(b *strings.Builder, lead string, conns []int, last string) {
	b.WriteString(lead)
	for _, n := range conns {
		fmt.Fprintf(b, " %d conns |", n)
	}
	b.WriteString(last + "\n|---|---|")
	for range conns {
		b.WriteString("---|")
	}
	if last != "" {
		b.WriteString("---|")
	}
	b.WriteString("\n")
}
