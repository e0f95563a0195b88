// Command trafficext is the trafficext CLI:
//
//	trafficext run [--extensions DIR]   control plane + Envoy (ingress gateway) + demo upstream
//	trafficext xds [--extensions DIR]   the control plane only
//	trafficext validate [--binding B] FILE…  check TrafficExtension files, exit 1 on any error
//	trafficext publish MODULE.wasm REF  push a Wasm module as an image into a registry
//
// Without --extensions, run and xds serve the examples embedded in the binary.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/trafficext/trafficext/engine/wasm/startcheck"
	"github.com/trafficext/trafficext/examples"
	"github.com/trafficext/trafficext/internal/echo"
	"github.com/trafficext/trafficext/internal/envoyproc"
	"github.com/trafficext/trafficext/xds"
	"github.com/trafficext/trafficext/xds/fetch"
	"github.com/trafficext/trafficext/xds/proxyid"
	"github.com/trafficext/trafficext/xds/server"
	"github.com/trafficext/trafficext/xds/source"
	"github.com/trafficext/trafficext/xds/source/kube"
	"github.com/trafficext/trafficext/xds/translate"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  trafficext run [--extensions DIR] [flags]   control plane + Envoy gateway + demo upstream
  trafficext xds [--extensions DIR] [flags]   the control plane only
  trafficext validate [--binding B] FILE...   check TrafficExtension files (for binding B)
  trafficext publish MODULE.wasm REF          push a Wasm module as an image (REF: host/repo:tag)
  trafficext status [--address HOST:PORT]      status of a running control plane
  trafficext istio render FILE|DIR...         EnvoyFilters for Istio mode
run "trafficext <command> -h" for the flags of a command`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "run":
		err = cmdRun(ctx, args[1:], stdout, stderr)
	case "xds":
		err = cmdXDS(ctx, args[1:], stderr)
	case "validate":
		return cmdValidate(args[1:], stdout, stderr)
	case "publish":
		err = cmdPublish(ctx, args[1:], stdout, stderr)
	case "status":
		err = cmdStatus(ctx, args[1:], stdout, stderr) // status.go
	case "istio":
		err = cmdIstio(args[1:], stdout, stderr) // istio.go
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "unknown command %q\n%s\n", args[0], usage)
		return 2
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "trafficext:", err)
		return 1
	}
	return 0
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	binding := fs.String("binding", string(translate.DynamicModules), "filter that hosts trafficext in the proxies (dynamic-modules or golang): what it cannot host is an error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	files := fs.Args()
	if b := translate.Binding(*binding); b != translate.DynamicModules && b != translate.Golang {
		fmt.Fprintf(stderr, "validate: unknown binding %q (want %s or %s)\n", b, translate.DynamicModules, translate.Golang)
		return 2
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "usage: trafficext validate [--binding dynamic-modules|golang] FILE...")
		return 2
	}
	errs := xds.CheckFiles(files, xds.CheckOptions{Binding: translate.Binding(*binding)}).Errors
	for _, e := range errs {
		fmt.Fprintln(stderr, e)
	}
	if len(errs) > 0 {
		return 1
	}
	fmt.Fprintf(stdout, "%d file(s) valid\n", len(files))
	return 0
}

// cpFlags are the control-plane flags shared by run and xds.
type cpFlags struct {
	extensions, xdsAddr, listen, upstream, rootNS string
	wasmCache, source, kubeNamespace              string
	binding, golangLibrary                        string
	golangHost                                    bool
	calloutGateway, statusAddr                    string
	wasmStartCheck                                time.Duration
	hardening                                     translate.Hardening
}

func (c *cpFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.extensions, "extensions", "", "directory of TrafficExtension files, watched (default: the embedded examples)")
	fs.StringVar(&c.xdsAddr, "xds-address", "127.0.0.1:18000", "ADS listen address")
	fs.StringVar(&c.statusAddr, "status-address", server.DefaultStatusAddress, "where the status report is served (trafficext status --address); off disables it")
	fs.StringVar(&c.listen, "listen", "127.0.0.1:10000", "address of the gateway listener given to proxies")
	fs.StringVar(&c.upstream, "upstream", "127.0.0.1:8081", "upstream the gateway routes to")
	fs.StringVar(&c.rootNS, "root-namespace", "istio-system", "config root namespace")
	fs.StringVar(&c.wasmCache, "wasm-cache", "", "Wasm module cache directory (default: the user cache dir + /trafficext/modules)")
	fs.DurationVar(&c.wasmStartCheck, "wasm-start-check", startcheck.DefaultTimeout, "start every fetched Wasm module with its extension's configuration (proxy_on_vm_start, proxy_on_configure) within this bound before serving it; a module that does not start is rejected and its failStrategy applies; 0 disables the check")
	fs.StringVar(&c.source, "source", "dir", "where resources come from: dir (--extensions, watched) or kubernetes (in-cluster informers on TrafficExtension, WasmPlugin and pull Secrets)")
	fs.StringVar(&c.kubeNamespace, "kube-namespace", "", "with --source kubernetes: watch only this namespace (default: all)")
	fs.StringVar(&c.binding, "binding", string(translate.DynamicModules), "filter that hosts trafficext in the proxies: dynamic-modules (stock Envoy, libtrafficext.so) or golang (envoy-contrib, trafficext_golang.so)")
	fs.StringVar(&c.golangLibrary, "golang-library-path", "/usr/local/lib/trafficext_golang.so", "with --binding golang: the library path inside the proxies")
	fs.BoolVar(&c.golangHost, "golang-host", false, "with --binding golang: serve the golang filter config wrapped for the golang host dynamic module (libgolanghost.so), for stock Envoy without the contrib golang filter (run decides this by probing its Envoy)")
	h := &c.hardening
	fs.DurationVar(&h.RequestHeadersTimeout, "request-headers-timeout", translate.DefaultRequestHeadersTimeout, "listeners close a connection whose request headers are not complete this long after its first byte (slowloris); 0 disables")
	fs.DurationVar(&h.StreamIdleTimeout, "stream-idle-timeout", translate.DefaultStreamIdleTimeout, "listeners reset a stream with no activity for this long; 0 disables")
	uintVar(fs, &h.MaxHeadersCount, "max-headers-count", translate.DefaultMaxHeadersCount, "most request headers a listener accepts (431 beyond)")
	uintVar(fs, &h.MaxConcurrentStreams, "max-concurrent-streams", translate.DefaultMaxConcurrentStreams, "most concurrent HTTP/2 streams per downstream connection")
	uintVar(fs, &h.PerConnectionBufferLimit, "per-connection-buffer-limit", translate.DefaultPerConnectionBufferLimit, "listener per-connection buffer limit in bytes; also what an extension may buffer of one body")
	fs.StringVar(&h.HeadersWithUnderscores, "headers-with-underscores", "ALLOW", "header names with '_': ALLOW (as Istio), REJECT_REQUEST or DROP_HEADER")
	fs.StringVar(&c.calloutGateway, "callout-gateway", translate.DefaultCalloutGateway, "where Wasm extensions reach the callout gateway (root-context HTTP calls, gRPC): a listener this control plane adds on ip:port, unix:<path> or unix:@<abstract name>; "+translate.CalloutGatewayProxyPlaceholder+" in it is replaced by the proxy id (for several proxies in one network namespace, e.g. "+translate.PerProxyCalloutGateway+"); "+translate.NoCalloutGateway+" = none. Proxies istiod configures: the address `trafficext istio render --callout-gateway` binds")
}

// uintVar is a uint32 flag.
func uintVar(fs *flag.FlagSet, p *uint32, name string, value uint32, usage string) {
	*p = value
	fs.Func(name, fmt.Sprintf("%s (default %d)", usage, value), func(v string) error {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			return fmt.Errorf("want a positive integer, got %q", v)
		}
		*p = uint32(n)
		return nil
	})
}

// translateHardening maps the flags' "0 disables" to the options' negative durations.
func (c *cpFlags) translateHardening() translate.Hardening {
	h := c.hardening
	for _, d := range []*time.Duration{&h.RequestHeadersTimeout, &h.StreamIdleTimeout} {
		if *d == 0 {
			*d = -1
		}
	}
	return h
}

// options resolves the extension directory (materialising the embedded examples when none
// is given) and returns the control-plane options and a cleanup.
func (c *cpFlags) options(log *slog.Logger) (xds.Options, func(), error) {
	dir := c.extensions
	cleanup := func() {}
	if dir == "" && c.source == "dir" {
		tmp, err := os.MkdirTemp("", "trafficext-examples-")
		if err != nil {
			return xds.Options{}, nil, err
		}
		cleanup = func() { os.RemoveAll(tmp) }
		if err := fs.WalkDir(examples.FS, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := examples.FS.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(tmp, p), b, 0o644)
		}); err != nil {
			cleanup()
			return xds.Options{}, nil, fmt.Errorf("writing embedded examples: %w", err)
		}
		dir = tmp
	}
	var src source.Source
	switch c.source {
	case "dir":
	case "kubernetes":
		k, err := kube.NewInCluster(kube.Options{Namespace: c.kubeNamespace, Logger: log})
		if err != nil {
			cleanup()
			return xds.Options{}, nil, fmt.Errorf("--source kubernetes: %w", err)
		}
		src, dir = k, ""
	default:
		cleanup()
		return xds.Options{}, nil, fmt.Errorf("--source %q: want dir or kubernetes", c.source)
	}
	return xds.Options{
		Source:        src,
		Dir:           dir,
		Address:       c.xdsAddr,
		StatusAddress: c.statusAddr,
		RootNamespace: c.rootNS,
		Translate: translate.Options{ListenerAddress: c.listen, Upstream: c.upstream,
			Binding: translate.Binding(c.binding), GolangLibraryPath: c.golangLibrary, GolangHost: c.golangHost,
			CalloutGateway: c.calloutGateway, Hardening: c.translateHardening()},
		Logger: log,
		Wasm:   xds.WasmOptions{Fetch: fetch.Options{CacheDir: c.wasmCache}, Resolver: fetch.ResolverOptions{StartChecker: c.startChecker()}},
	}, cleanup, nil
}

// startChecker is the Wasm engine's start check (nil when disabled by --wasm-start-check 0).
func (c *cpFlags) startChecker() fetch.StartChecker {
	if c.wasmStartCheck <= 0 {
		return nil
	}
	return startcheck.New(startcheck.Options{Timeout: c.wasmStartCheck})
}

func cmdXDS(ctx context.Context, args []string, stderr io.Writer) error {
	fset := flag.NewFlagSet("xds", flag.ContinueOnError)
	var c cpFlags
	c.register(fset)
	if err := fset.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	opts, cleanup, err := c.options(log)
	if err != nil {
		return err
	}
	defer cleanup()
	log.Info("serving ADS", "address", c.xdsAddr, "extensions", opts.Dir)
	return xds.Run(ctx, opts)
}

// GatewayIdentity is the proxy `trafficext run` starts: an Istio ingress gateway.
func GatewayIdentity(upstream string) proxyid.Identity {
	return proxyid.Identity{
		ID:          "ingressgateway.istio-system",
		Cluster:     "istio-ingressgateway",
		Mode:        proxyid.Gateway,
		Namespace:   "istio-system",
		Labels:      map[string]string{"istio": "ingressgateway", "app": "istio-ingressgateway"},
		GatewayName: "ingressgateway",
		Upstream:    upstream,
	}
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("run", flag.ContinueOnError)
	var c cpFlags
	c.register(fset)
	adminPort := fset.Int("admin-port", 9901, "Envoy admin port")
	concurrency := fset.Int("concurrency", 2, "Envoy worker threads")
	logLevel := fset.String("log-level", "info", "Envoy log level")
	readyTimeout := fset.Duration("ready-timeout", 0, "how long to wait for Envoy to become live (default: 30s plus 10ms per extension served)")
	if err := fset.Parse(args); err != nil {
		return err
	}
	// Every address run binds, checked first: a port held by an Envoy of an earlier run is
	// named with its pid rather than failing later inside Envoy's log.
	adminAddr := fmt.Sprintf("127.0.0.1:%d", *adminPort)
	addrs := []string{c.listen, adminAddr, c.xdsAddr, c.upstream}
	if c.statusAddr != "off" {
		addrs = append(addrs, c.statusAddr)
	}
	if err := envoyproc.CheckPorts(addrs...); err != nil {
		return fmt.Errorf("cannot start:\n%w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if c.binding == string(translate.Golang) {
		if err := c.golangRun(fset, log); err != nil {
			return err
		}
	}
	opts, cleanup, err := c.options(log)
	if err != nil {
		return err
	}
	defer cleanup()

	up, err := echo.Start(c.upstream, "demo-upstream")
	if err != nil {
		return fmt.Errorf("starting the demo upstream on %s: %w", c.upstream, err)
	}
	defer up.Close()

	cp, err := xds.New(opts)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cpErr := make(chan error, 1)
	go func() { cpErr <- cp.Run(ctx) }()
	select {
	case <-cp.Ready():
	case err := <-cpErr:
		return err
	case <-time.After(10 * time.Second):
		return errors.New("control plane not ready after 10s")
	}

	// Delta xDS: with thousands of extensions, state-of-the-world requests (each naming every
	// ECDS resource subscribed so far) cost Envoy and the control plane O(N²).
	boot, err := envoyproc.DeltaADSBootstrap(GatewayIdentity(c.upstream), c.xdsAddr, *adminPort)
	if err != nil {
		return err
	}
	wait := *readyTimeout
	if wait == 0 { // Envoy loads every extension before its listener warms
		wait = envoyproc.DefaultReadyTimeout + time.Duration(len(cp.Status().Served))*10*time.Millisecond
	}
	env, err := envoyproc.Start(ctx, envoyproc.Options{
		Bootstrap: boot, AdminPort: *adminPort, Concurrency: *concurrency,
		LogLevel: *logLevel, ComponentLogLevel: "dynamic_modules:info", Log: stderr,
		ReadyTimeout: wait,
	})
	if err != nil {
		return err
	}
	defer env.Stop()

	fmt.Fprintf(stdout, `
trafficext is running:
  Envoy gateway   http://%s   (admin http://127.0.0.1:%d)
  control plane   %s (ADS), extensions from %s
  demo upstream   http://%s

Try:
  curl -si -H 'x-number: 7' http://%s/ | grep x-parity     # x-parity: odd
  curl -si -H 'x-number: 8' http://%s/ | grep x-parity     # x-parity: even
  curl -si http://%s/productpage                          # 401: the basic-auth Wasm example
  curl -si -u ok:test http://%s/productpage               # 200
Edit a file in %s and the change is live within a second, with no listener drain.
Ctrl-C stops everything.
`, c.listen, *adminPort, c.xdsAddr, opts.Dir, c.upstream, c.listen, c.listen, c.listen, c.listen, opts.Dir)

	envDone := make(chan error, 1)
	go func() { envDone <- env.Wait() }()
	select {
	case <-ctx.Done():
		return nil
	case err := <-cpErr:
		return fmt.Errorf("control plane stopped: %w", err)
	case err := <-envDone:
		return fmt.Errorf("envoy exited: %v", err)
	}
}
