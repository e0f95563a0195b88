package xds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"

	"github.com/trafficext/trafficext/xds/fetch"
	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/proxyid"
	"github.com/trafficext/trafficext/xds/server"
	"github.com/trafficext/trafficext/xds/source"
	"github.com/trafficext/trafficext/xds/translate"
	"github.com/trafficext/trafficext/xds/validate"
)

// Options configure the control plane. Only Dir (or Source) is required.
type Options struct {
	// Dir is the directory of TrafficExtension files, watched for changes.
	Dir string
	// Source replaces Dir with another source of resources.
	Source source.Source
	// Address is the ADS listen address; "" means 127.0.0.1:18000.
	Address string
	// RootNamespace is the config root namespace; "" means istio-system.
	RootNamespace string
	// Translate shapes the Envoy resources (binding, listener address, upstream, ...). Its
	// Policy.RootNamespace defaults to RootNamespace.
	Translate translate.Options
	// Logger receives everything the control plane reports; nil means slog.Default().
	Logger *slog.Logger
	// StatusAddress is where the status report (report.go) is served over HTTP: Run defaults
	// it to 127.0.0.1:18001; Serve serves it only when set; "off" disables it.
	StatusAddress string
	// Wasm configures the Wasm module fetcher and cache (see wasm.go); it is not used when
	// Translate.Wasm is set.
	Wasm WasmOptions
}

// ControlPlane is a running pipeline from a source to the ADS server.
type ControlPlane struct {
	opts   Options
	log    *slog.Logger
	src    source.Source
	srv    *server.Server
	lg     *lastGood
	vopts  validate.Options
	ready  chan struct{}
	readyO sync.Once

	mu       sync.Mutex
	status   Status
	reported map[string]bool
	// reportedStale: the stale resources already logged.
	reportedStale map[string]bool

	// Wasm module stage (wasm.go): publishing is serialised by applyMu and can be redone
	// from the last source snapshot when a module arrives in the background.
	wasm    *wasmStage
	applyMu sync.Mutex
	applied bool
	snap    source.Snapshot
	out     outcome
}

// Status is the control plane's current view of its configuration.
type Status struct {
	// Problems are the current file and resource errors and warnings (*model.Error).
	Problems []error
	// Stale lists the resources served from their last valid version because the current one
	// is invalid or its file cannot be read.
	Stale []model.Key
	// Rejected lists the Wasm resources whose module does not start (Options.Wasm.Resolver.StartChecker)
	// and that have no earlier version to serve: their fail strategy applies (left out, or a
	// deny slot).
	Rejected []model.Key
	// Served lists the resources being served.
	Served []model.Key
	// NACKs are the configurations proxies rejected and have not accepted since.
	NACKs []server.NACK
	// Nodes is what was last built per connected proxy, by node id.
	Nodes map[string]server.NodeStatus
}

// New prepares a control plane; nothing runs until Run or Serve.
func New(opts Options) (*ControlPlane, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	src := opts.Source
	if src == nil {
		if opts.Dir == "" {
			return nil, errors.New("xds: Options.Dir or Options.Source must be set")
		}
		src = source.NewDir(opts.Dir, log)
	}
	if opts.Translate.Policy.RootNamespace == "" {
		opts.Translate.Policy.RootNamespace = opts.RootNamespace
	}
	wasm, err := newWasmStage(&opts, log)
	if err != nil {
		return nil, err
	}
	probe := proxyid.Identity{ID: "probe", Mode: proxyid.Gateway, Namespace: "default"}
	if _, err := translate.Proxy(probe, nil, opts.Translate); err != nil {
		return nil, fmt.Errorf("xds: translate options: %w", err)
	}
	return &ControlPlane{
		opts:     opts,
		log:      log,
		src:      src,
		srv:      server.New(server.Options{Address: opts.Address, Translate: opts.Translate, Logger: log}),
		lg:       newLastGood(),
		vopts:    validate.Options{RootNamespace: opts.RootNamespace, Binding: opts.Translate.Binding},
		ready:    make(chan struct{}),
		reported: map[string]bool{},
		wasm:     wasm,
	}, nil
}

// Run starts the control plane with opts and blocks until ctx ends or it fails.
func Run(ctx context.Context, opts Options) error {
	cp, err := New(opts)
	if err != nil {
		return err
	}
	return cp.Run(ctx)
}

// Run listens on Options.Address and serves until ctx ends or the source fails.
func (c *ControlPlane) Run(ctx context.Context) error {
	addr := c.opts.Address
	if addr == "" {
		addr = server.DefaultAddress
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("xds: listening: %w", err)
	}
	if c.opts.StatusAddress == "" {
		c.opts.StatusAddress = server.DefaultStatusAddress // status endpoint (report.go)
	}
	return c.Serve(ctx, lis)
}

// Serve runs the source and serves ADS on lis until ctx ends or the source fails.
func (c *ControlPlane) Serve(ctx context.Context, lis net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- c.srv.Serve(ctx, lis) }()
	go c.serveStatus(ctx) // report.go
	go c.wasm.run(ctx, c.refresh)
	go func() {
		err := c.src.Run(ctx, c.apply)
		if err != nil {
			err = fmt.Errorf("xds: source: %w", err)
		}
		errc <- err
	}()
	err := <-errc
	cancel()
	err2 := <-errc
	return errors.Join(err, err2)
}

// Ready is closed once the first snapshot of the source is being served.
func (c *ControlPlane) Ready() <-chan struct{} { return c.ready }

// Server is the ADS server (for introspection in tests and tools).
func (c *ControlPlane) Server() *server.Server { return c.srv }

// Status returns the current status.
func (c *ControlPlane) Status() Status {
	c.mu.Lock()
	st := c.status
	c.mu.Unlock()
	st.Problems = slices.Clone(st.Problems)
	st.NACKs = c.srv.NACKs()
	st.Nodes = c.srv.Nodes()
	return st
}

// WasmMetrics returns the Wasm fetcher's counters (fetch successes, failures by reason, cache
// hits) and the module cache's size.
func (c *ControlPlane) WasmMetrics() fetch.Metrics { return c.wasm.metrics() }

// apply handles one snapshot of the source.
func (c *ControlPlane) apply(snap source.Snapshot) {
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	c.snap, c.out, c.applied = snap, c.lg.apply(snap, c.vopts), true
	c.publish()
}

// refresh publishes again after a Wasm module arrived or failed in the background.
func (c *ControlPlane) refresh() {
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	if c.applied {
		c.publish()
	}
}

// publish fetches the modules of the last outcome and serves it; c.applyMu is held.
func (c *ControlPlane) publish() {
	out := c.wasm.prepare(c.out, c.snap)
	c.srv.Update(out.serve)
	c.mu.Lock()
	c.status.Problems = out.problems
	c.status.Stale = out.stale
	c.status.Rejected = out.rejected
	c.status.Served = c.status.Served[:0]
	for _, e := range out.serve {
		c.status.Served = append(c.status.Served, e.Key)
	}
	c.logProblems(out)
	c.mu.Unlock()
	c.readyO.Do(func() { close(c.ready) })
}

// logProblems logs each problem once while it persists; c.mu is held.
func (c *ControlPlane) logProblems(out outcome) {
	now := map[string]bool{}
	for _, p := range out.problems {
		msg := p.Error()
		now[msg] = true
		if c.reported[msg] {
			continue
		}
		var me *model.Error
		if errors.As(p, &me) && me.Warning {
			c.log.Warn(msg)
		} else {
			c.log.Error(msg)
		}
	}
	for k := range c.reported {
		if !now[k] {
			c.log.Info("resolved: " + k)
		}
	}
	c.reported = now
	// Stale resources, like problems, are logged when they become stale, not at every push.
	stale := map[string]bool{}
	for _, k := range out.stale {
		stale[k.String()] = true
		if !c.reportedStale[k.String()] {
			c.log.Warn("serving the last valid version", "resource", k.String())
		}
	}
	c.reportedStale = stale
	c.log.Info("extensions loaded", "served", len(out.serve), "stale", len(out.stale), "problems", len(out.problems))
}
