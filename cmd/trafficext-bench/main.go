// Command trafficext-bench is a reproducible side-by-side load benchmark of the trafficext
// dynamic module against Envoy's native Lua filter and a router-only baseline.
//
// In one run it starts the same Envoy binary, one configuration after another, on loopback
// with a static bootstrap:
//
//	none        no extension filter (router only)
//	lua         envoy.filters.http.lua with the parity script inline
//	trafficext  our dynamic-module filter (libtrafficext.so) running the same script
//	floor       (only when asked for) the same filter with both Lua hooks empty: the binding's
//	            own cost per request, reported against none
//
// each proxying to an in-process fixed-response upstream, and for every connection count
// drives closed-loop HTTP/1.1 keep-alive load from the built-in generator, checking every
// response's x-parity. It prints a markdown report; --write also updates docs/benchmarks.md.
//
//	go run ./cmd/trafficext-bench [--conns 1,16] [--duration 10s] [--warmup 2s]
//	    [--concurrency 2] [--configs none,lua,trafficext] [--build-module] [--write]
//
// With --matrix it runs the Lua matrix instead (matrix.go): three scripts (parity, a
// header-count logger, a basic-auth check) × the configurations × --conns × --concurrencies
// (default 1,2,4,8,16), with Envoy RSS per concurrency, into its own section of the report.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/trafficext/trafficext/cmd/trafficext-bench/internal/loadgen"
	"github.com/trafficext/trafficext/examples"
	"github.com/trafficext/trafficext/extconfig"
	"github.com/trafficext/trafficext/internal/envoyproc"
	"github.com/trafficext/trafficext/internal/loopback"
)

// ParityScript is the workload: the Lua of examples/parity.yaml (what `make run` serves),
// identical for the native filter and ours.
var ParityScript = exampleLua("parity.yaml")

// exampleLua returns spec.lua.inlineCode of an embedded example; the examples are part of the
// binary, so a missing one is a build mistake.
func exampleLua(file string) string {
	b, err := examples.FS.ReadFile(file)
	if err != nil {
		panic(fmt.Sprintf("example %s: %v", file, err))
	}
	var doc struct {
		Spec struct {
			Lua struct {
				InlineCode string `json:"inlineCode"`
			} `json:"lua"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil || doc.Spec.Lua.InlineCode == "" {
		panic(fmt.Sprintf("example %s: no spec.lua.inlineCode (%v)", file, err))
	}
	return doc.Spec.Lua.InlineCode
}

// ExtensionName is the filter instance name of config (c), shaped as the control plane names it.
const ExtensionName = "extensions.istio.io/trafficextension/bench.parity"

type benchConfig struct {
	Key   string // flag value
	Label string // table label
	// Filter is the HTTP filter placed before the router (nil for none).
	Filter func() (map[string]any, error)
	// Parity says whether responses must carry x-parity.
	Parity bool
	// Module says whether the configuration loads libtrafficext.so.
	Module bool
}

var allConfigs = []benchConfig{
	{Key: "none", Label: "(a) none (router only)"},
	{Key: "lua", Label: "(b) native envoy.filters.http.lua", Parity: true, Filter: nativeLuaFilter},
	{Key: "trafficext", Label: "(c) trafficext dynamic module", Parity: true, Filter: trafficextFilter, Module: true},
	{Key: "floor", Label: "(d) trafficext, empty hooks (passthrough floor)", Filter: floorFilter, Module: true},
}

// FloorScript defines both hooks with empty bodies, so every request enters the module and
// Lua twice and does nothing else: (d) minus (a) is the binding's own cost per request.
const FloorScript = "function envoy_on_request(h)\nend\nfunction envoy_on_response(h)\nend\n"

func floorFilter() (map[string]any, error) {
	return luaModuleFilter("extensions.istio.io/trafficextension/bench.floor", FloorScript)
}

func nativeLuaFilter() (map[string]any, error) {
	return map[string]any{
		"name": "envoy.filters.http.lua",
		"typed_config": map[string]any{
			"@type":               "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
			"default_source_code": map[string]any{"inline_string": ParityScript},
		},
	}, nil
}

func trafficextFilter() (map[string]any, error) { return luaModuleFilter(ExtensionName, ParityScript) }

// luaModuleFilter is the dynamic-module HTTP filter running script as extension name.
func luaModuleFilter(name, script string) (map[string]any, error) {
	cfg, err := extconfig.Marshal(&extconfig.Extension{Name: name, Lua: &extconfig.Lua{InlineCode: script}})
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"name": name,
		"typed_config": map[string]any{
			"@type":                 "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter",
			"dynamic_module_config": map[string]any{"name": "trafficext", "do_not_close": true},
			"filter_name":           "trafficext",
			"filter_config":         map[string]any{"@type": "type.googleapis.com/google.protobuf.StringValue", "value": string(cfg)},
		},
	}, nil
}

// bootstrap is a static Envoy bootstrap: one HTTP listener routing everything to the upstream.
func bootstrap(listenPort, adminPort, upstreamPort int, filter map[string]any) (string, error) {
	filters := []any{}
	if filter != nil {
		filters = append(filters, filter)
	}
	filters = append(filters, map[string]any{
		"name":         "envoy.filters.http.router",
		"typed_config": map[string]any{"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
	})
	addr := func(port int) map[string]any {
		return map[string]any{"socket_address": map[string]any{"address": "127.0.0.1", "port_value": port}}
	}
	const maxInt = 1 << 30
	b := map[string]any{
		"admin": map[string]any{"address": addr(adminPort)},
		"static_resources": map[string]any{
			"listeners": []any{map[string]any{
				"name":    "bench",
				"address": addr(listenPort),
				"filter_chains": []any{map[string]any{"filters": []any{map[string]any{
					"name": "envoy.filters.network.http_connection_manager",
					"typed_config": map[string]any{
						"@type":       "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
						"stat_prefix": "bench",
						"route_config": map[string]any{"name": "bench", "virtual_hosts": []any{map[string]any{
							"name": "all", "domains": []string{"*"},
							"routes": []any{map[string]any{
								"match": map[string]any{"prefix": "/"},
								"route": map[string]any{"cluster": "upstream"},
							}},
						}}},
						"http_filters": filters,
					},
				}}}},
			}},
			"clusters": []any{map[string]any{
				"name": "upstream", "type": "STATIC", "connect_timeout": "1s",
				"circuit_breakers": map[string]any{"thresholds": []any{map[string]any{
					"max_connections": maxInt, "max_pending_requests": maxInt, "max_requests": maxInt,
				}}},
				"load_assignment": map[string]any{"cluster_name": "upstream", "endpoints": []any{map[string]any{
					"lb_endpoints": []any{map[string]any{"endpoint": map[string]any{"address": addr(upstreamPort)}}},
				}}},
			}},
		},
	}
	out, err := json.MarshalIndent(b, "", "  ")
	return string(out), err
}

type options struct {
	conns       []int
	configs     []benchConfig
	concurrency int
	duration    time.Duration
	warmup      time.Duration
	write       bool
	docPath     string
	moduleDir   string
	buildModule bool
	logDir      string
	rounds      int
	matrix      *matrixOptions // --matrix: the Lua matrix instead of the parity comparison
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "trafficext-bench:", err)
		os.Exit(2)
	}
	if o.matrix != nil {
		err = runMatrix(o, o.matrix)
	} else {
		err = run(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "trafficext-bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("trafficext-bench", flag.ContinueOnError)
	conns := fs.String("conns", "1,16", "comma-separated connection counts")
	configs := fs.String("configs", "none,lua,trafficext", "comma-separated configurations to run, in order: none, lua, trafficext, floor (empty Lua hooks in trafficext)")
	o := &options{}
	fs.IntVar(&o.concurrency, "concurrency", 2, "Envoy --concurrency (worker threads)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured duration per cell")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "warm-up per cell (load checked, not recorded)")
	fs.BoolVar(&o.write, "write", false, "update docs/benchmarks.md with the results")
	fs.StringVar(&o.docPath, "doc", "", "report file for --write (default <module root>/docs/benchmarks.md)")
	fs.StringVar(&o.moduleDir, "module-dir", "", "directory holding libtrafficext.so (default $TRAFFICEXT_MODULE_DIR, else <module root>/out)")
	fs.BoolVar(&o.buildModule, "build-module", false, "build libtrafficext.so from this tree into a temporary directory and use it")
	fs.IntVar(&o.rounds, "rounds", 1, "repeat the whole matrix this many times (configurations alternate); the table shows each cell's median round by req/s")
	fs.StringVar(&o.logDir, "log-dir", "", "keep each Envoy's log here (default: a temporary directory, kept only on failure)")
	matrix := fs.Bool("matrix", false, "run the Lua matrix: --scripts × --configs × --conns × --concurrencies, with RSS per concurrency")
	scripts := fs.String("scripts", "parity,headercount,basicauth", "with --matrix: scripts to run (parity, headercount, basicauth)")
	concurrencies := fs.String("concurrencies", "1,2,4,8,16", "with --matrix: Envoy --concurrency values")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *matrix {
		mo, err := parseMatrixFlags(*scripts, *concurrencies)
		if err != nil {
			return nil, err
		}
		o.matrix = mo
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if o.conns, err = positiveInts(*conns, "--conns"); err != nil {
		return nil, err
	}
	if o.configs, err = pick(allConfigs, func(c benchConfig) string { return c.Key }, *configs, "--configs: unknown configuration %q (want none, lua, trafficext, floor)"); err != nil {
		return nil, err
	}
	for _, c := range o.configs {
		if c.Key == "floor" && o.matrix != nil {
			return nil, fmt.Errorf("--configs floor: not a --matrix configuration (the matrix runs its own scripts)")
		}
	}
	if o.concurrency < 1 || o.duration <= 0 || o.warmup < 0 || o.rounds < 1 {
		return nil, errors.New("--concurrency, --duration and --rounds must be positive, --warmup not negative")
	}
	return o, nil
}

// cell is one (configuration, connection count) measurement.
type cell struct {
	Config benchConfig
	Conns  int
	Res    *loadgen.Result
	// RSS of Envoy in bytes after the warm-up and at the end.
	RSSWarm, RSSEnd int64
	// EnvoyCPU and BenchCPU are CPU time spent during the measured window by Envoy and by
	// this process (load generator + upstream).
	EnvoyCPU, BenchCPU time.Duration
	// MachineBusy is the fraction of all CPUs busy during the measured window.
	MachineBusy float64
	// Workers is the number of downstream connections per Envoy worker ("9/7").
	Workers string
	Err     error
}

// EnvoyCPUPerReq is Envoy's CPU time per measured request.
func (c *cell) EnvoyCPUPerReq() time.Duration {
	if c.Res == nil || c.Res.Requests == 0 {
		return 0
	}
	return c.EnvoyCPU / time.Duration(c.Res.Requests)
}

// configRun is everything measured for one configuration.
type configRun struct {
	Config  benchConfig
	Round   int
	Cells   []*cell
	Err     error  // the configuration could not be measured
	Log     string // Envoy log tail on failure
	Stats   string // notable non-zero error counters
	LogFile string
}

type report struct {
	Opts         *options
	Runs         []*configRun
	Machine      machine
	EnvoyVersion string
	EnvoyBin     string
	ModuleDir    string
	GoVersion    string
	Date         time.Time
	Command      string
	Elapsed      time.Duration
	DocPath      string // the file --write updates
}

// preamble is what every run starts with: a context Ctrl-C cancels and the Envoy binary
// with its version.
func preamble() (ctx context.Context, stop func(), bin, version string, err error) {
	ctx, stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if bin, err = envoyproc.FindBinary(); err == nil {
		version, err = envoyVersion(bin)
	}
	if err != nil {
		stop()
	}
	return ctx, stop, bin, version, err
}

func run(o *options) error {
	t0 := time.Now()
	ctx, stop, bin, version, err := preamble()
	if err != nil {
		return err
	}
	defer stop()
	rep := &report{Opts: o, Machine: readMachine(), EnvoyVersion: version, EnvoyBin: bin,
		GoVersion: runtime.Version(), Date: time.Now().UTC(), Command: reproduceCommand(o)}

	needModule := false
	for _, c := range o.configs {
		needModule = needModule || c.Module
	}
	if needModule {
		dir, cleanup, err := moduleDir(o)
		if err != nil {
			return err
		}
		defer cleanup()
		rep.ModuleDir = dir
		// envoyproc.Start reads TRAFFICEXT_MODULE_DIR for ENVOY_DYNAMIC_MODULES_SEARCH_PATH.
		os.Setenv("TRAFFICEXT_MODULE_DIR", dir)
	}

	keepLogs := o.logDir != ""
	logDir, up, err := prepareRun(o.logDir, "trafficext-bench-logs-")
	if err != nil {
		return err
	}
	defer up.Close()

	fmt.Fprintf(os.Stderr, "envoy %s, concurrency %d, %d round(s) × %d×%d cells of %v + %v warm-up\n",
		version, o.concurrency, o.rounds, len(o.configs), len(o.conns), o.duration, o.warmup)
	failed := false
	for round := range o.rounds {
		for _, c := range o.configs {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			cr := runConfig(ctx, o, c, up.Port(), logDir, round)
			rep.Runs = append(rep.Runs, cr)
			if cr.Err != nil {
				failed = true
				fmt.Fprintf(os.Stderr, "%s: FAILED: %v\n", c.Key, cr.Err)
			}
			for _, cl := range cr.Cells {
				if cl.Err != nil || cl.Res.Errors > 0 {
					failed = true
				}
			}
		}
	}
	rep.Elapsed = time.Since(t0)
	md := renderReport(rep)
	fmt.Print(md)
	if o.write {
		path, err := docPath(o)
		if err != nil {
			return err
		}
		rep.DocPath = path
		if err := os.WriteFile(path, []byte(renderDoc(rep, md)), 0o644); err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "wrote", path)
	}
	if failed {
		fmt.Fprintln(os.Stderr, "Envoy logs kept in", logDir)
		return errors.New("some configurations failed or saw errors (see the report)")
	}
	if !keepLogs {
		os.RemoveAll(logDir)
	}
	return nil
}

func runConfig(ctx context.Context, o *options, c benchConfig, upstreamPort int, logDir string, round int) *configRun {
	cr := &configRun{Config: c, Round: round}
	var filter map[string]any
	if c.Filter != nil {
		f, err := c.Filter()
		if err != nil {
			cr.Err = err
			return cr
		}
		filter = f
	}
	ports, err := freePorts(2)
	if err != nil {
		cr.Err = err
		return cr
	}
	listen, admin := ports[0], ports[1]
	bs, err := bootstrap(listen, admin, upstreamPort, filter)
	if err != nil {
		cr.Err = err
		return cr
	}
	cr.LogFile = filepath.Join(logDir, fmt.Sprintf("envoy-%s-%d.log", c.Key, round))
	logf, err := os.Create(cr.LogFile)
	if err != nil {
		cr.Err = err
		return cr
	}
	defer logf.Close()
	os.WriteFile(filepath.Join(logDir, "bootstrap-"+c.Key+".json"), []byte(bs), 0o644)

	fmt.Fprintf(os.Stderr, "round %d, %s: starting envoy\n", round+1, c.Key)
	p, err := envoyproc.Start(ctx, envoyproc.Options{Bootstrap: bs, AdminPort: admin, Concurrency: o.concurrency, Log: logf})
	if err != nil {
		cr.Err = err
		return cr
	}
	defer p.Stop()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(listen))
	if err := preflight(addr, c.Parity); err != nil {
		cr.Err = fmt.Errorf("preflight: %w", err)
		cr.Log = tail(p.Log(), 40)
		return cr
	}
	for _, n := range o.conns {
		if ctx.Err() != nil {
			break
		}
		cl := &cell{Config: c, Conns: n}
		cr.Cells = append(cr.Cells, cl)
		fmt.Fprintf(os.Stderr, "%s: %d conns ... ", c.Key, n)
		var envoyCPU0, benchCPU0 time.Duration
		var busy0, total0 int64
		cl.Res, cl.Err = loadgen.Run(loadgen.Config{
			Addr: addr, Conns: n, Warmup: o.warmup, Duration: o.duration, CheckParity: c.Parity,
			OnMeasureStart: func() {
				cl.RSSWarm, _ = rss(p.Pid())
				envoyCPU0, _ = procCPU(p.Pid())
				benchCPU0 = selfCPU()
				busy0, total0 = cpuTimes()
				cl.Workers = workerConns(p.Admin, listen)
			},
		})
		busy1, total1 := cpuTimes()
		if total1 > total0 {
			cl.MachineBusy = float64(busy1-busy0) / float64(total1-total0)
		}
		envoyCPU1, _ := procCPU(p.Pid())
		cl.EnvoyCPU, cl.BenchCPU = envoyCPU1-envoyCPU0, selfCPU()-benchCPU0
		cl.RSSEnd, _ = rss(p.Pid())
		if cl.Err == nil && !p.Alive() {
			cl.Err = errors.New("envoy exited during the run")
		}
		if cl.Err != nil {
			fmt.Fprintf(os.Stderr, "error: %v\n", cl.Err)
			cr.Log = tail(p.Log(), 40)
			continue
		}
		fmt.Fprintf(os.Stderr, "%.0f req/s, p50 %v, p99 %v, errors %d\n", cl.Res.Throughput(),
			fmtDur(cl.Res.Latency.Percentile(0.5)), fmtDur(cl.Res.Latency.Percentile(0.99)), cl.Res.Errors)
		if cl.Res.Errors > 0 {
			cr.Log = tail(p.Log(), 40)
		}
	}
	cr.Stats = errorStats(p)
	return cr
}

// preflight sends one odd and one even request and checks the answers before loading.
func preflight(addr string, parity bool) error {
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	for _, n := range []int{7, 8} {
		req, _ := http.NewRequest("GET", "http://"+addr+"/preflight", nil)
		req.Header.Set("x-number", strconv.Itoa(n))
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		got, want := resp.Header.Values("x-parity"), []string{}
		if parity {
			want = []string{map[bool]string{true: "even", false: "odd"}[n%2 == 0]}
		}
		if resp.StatusCode != 200 || strings.Join(got, ",") != strings.Join(want, ",") {
			return fmt.Errorf("x-number %d: status %d, x-parity %q (want %q), body %q", n, resp.StatusCode, got, want, body)
		}
	}
	return nil
}

// errorStats lists non-zero Envoy counters that look like extension failures.
func errorStats(p *envoyproc.Process) string {
	body, err := p.Admin("/stats?filter=(lua|trafficext|dynamic_module|script).*(error|fail|panic|timeout)")
	if err != nil {
		return ""
	}
	var out []string
	for _, l := range strings.Split(body, "\n") {
		k, v, ok := strings.Cut(l, ": ")
		if ok && strings.TrimSpace(v) != "0" && !strings.Contains(v, "No recorded values") {
			out = append(out, k+"="+strings.TrimSpace(v))
		}
	}
	return strings.Join(out, ", ")
}

func moduleDir(o *options) (string, func(), error) {
	nop := func() {}
	if o.buildModule {
		root, err := envoyproc.ModuleRoot()
		if err != nil {
			return "", nop, err
		}
		dir, err := os.MkdirTemp("", "trafficext-bench-module-")
		if err != nil {
			return "", nop, err
		}
		fmt.Fprintln(os.Stderr, "building libtrafficext.so into", dir)
		cmd := exec.Command("go", "build", "-trimpath", "-buildmode=c-shared", "-o", filepath.Join(dir, "libtrafficext.so"), "./cmd/libtrafficext")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			os.RemoveAll(dir)
			return "", nop, fmt.Errorf("building the dynamic module: %w", err)
		}
		return dir, func() { os.RemoveAll(dir) }, nil
	}
	if o.moduleDir != "" {
		return o.moduleDir, nop, nil
	}
	dir, err := envoyproc.ModuleDir()
	return dir, nop, err
}

func freePorts(n int) ([]int, error) { return loopback.FreePorts(n) }

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

func envoyVersion(bin string) (string, error) {
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s --version: %v: %s", bin, err, out)
	}
	s := strings.TrimSpace(string(out))
	if _, v, ok := strings.Cut(s, "version: "); ok {
		s = strings.TrimSpace(v)
	}
	return s, nil
}

func reproduceCommand(o *options) string {
	args := []string{"go", "run", "./cmd/trafficext-bench"}
	for _, a := range os.Args[1:] {
		args = append(args, shellQuote(a))
	}
	cmd := strings.Join(args, " ")
	if !o.buildModule && o.moduleDir == "" {
		for _, c := range o.configs {
			if c.Module {
				return "make module && " + cmd
			}
		}
	}
	return cmd
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_=.,/:@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// prepareRun makes the log directory (o.logDir, or a new temporary one named with prefix) and
// starts the upstream every configuration proxies to.
func prepareRun(logDir, prefix string) (string, *loadgen.Upstream, error) {
	var err error
	if logDir == "" {
		if logDir, err = os.MkdirTemp("", prefix); err != nil {
			return "", nil, err
		}
	} else if err := os.MkdirAll(logDir, 0o755); err != nil {
		return "", nil, err
	}
	up, err := loadgen.StartUpstream("127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	return logDir, up, nil
}

// pick returns the items whose key is in the comma-separated list, in list order; an unknown
// key is an error formatted with unknown.
func pick[T any](items []T, key func(T) string, list, unknown string) ([]T, error) {
	var out []T
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		found := false
		for _, it := range items {
			if key(it) == s {
				out, found = append(out, it), true
			}
		}
		if !found {
			return nil, fmt.Errorf(unknown, s)
		}
	}
	return out, nil
}

// positiveInts parses a comma-separated list of positive integers given to flag.
func positiveInts(list, flag string) ([]int, error) {
	var out []int
	for _, s := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s: %q is not a positive integer", flag, s)
		}
		out = append(out, n)
	}
	return out, nil
}

// docPath is the file --write updates: --doc, else docs/benchmarks.md of the module.
func docPath(o *options) (string, error) {
	if o.docPath != "" {
		return o.docPath, nil
	}
	root, err := envoyproc.ModuleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "docs", "benchmarks.md"), nil
}
