package xds

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/trafficext/trafficext/xds/fetch"
	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/source"
)

// WasmOptions configure how the control plane fetches Wasm modules.
type WasmOptions struct {
	// Fetch configures the fetcher and its disk cache (default under
	// os.UserCacheDir()/trafficext/modules).
	Fetch fetch.Options
	// Resolver tunes the module stage: how long a change waits for new modules, the backoff
	// of background re-fetches, and the check that a module starts before it is served
	// (Resolver.StartChecker; cmd/trafficext sets engine/wasm/startcheck).
	Resolver fetch.ResolverOptions
}

// wasmStage runs between keep-last-good and translation: it fetches the modules of the
// extensions about to be served (fetch.Resolver.Prepare) and substitutes the previous version
// of an extension whose new module cannot be had. It is inactive when Options.Translate.Wasm
// was set by the caller.
type wasmStage struct {
	r *fetch.Resolver
}

// newWasmStage installs a fetch.Resolver as opts.Translate.Wasm unless one is set.
func newWasmStage(opts *Options, log *slog.Logger) (*wasmStage, error) {
	if opts.Translate.Wasm != nil {
		r, _ := opts.Translate.Wasm.(*fetch.Resolver)
		return &wasmStage{r: r}, nil
	}
	fo := opts.Wasm.Fetch
	if fo.Logger == nil {
		fo.Logger = log.With("component", "wasm-fetch")
	}
	f, err := fetch.New(fo)
	if err != nil {
		return nil, fmt.Errorf("xds: Wasm module cache: %w", err)
	}
	r := fetch.NewResolver(f, opts.Wasm.Resolver)
	opts.Translate.Wasm = r
	return &wasmStage{r: r}, nil
}

// run re-publishes after background fetches change what can be served, until ctx ends.
func (w *wasmStage) run(ctx context.Context, refresh func()) {
	if w.r == nil {
		return
	}
	w.r.Run(ctx, refresh)
}

// prepare fetches the modules of out.serve and returns the outcome to publish.
func (w *wasmStage) prepare(out outcome, snap source.Snapshot) outcome {
	if w.r == nil {
		return out
	}
	o := w.r.Prepare(out.serve, snap.DockerConfig)
	res := outcome{serve: o.Serve, problems: slices.Clone(out.problems), stale: slices.Clone(out.stale), rejected: o.Rejected}
	for _, p := range o.Problems {
		res.problems = append(res.problems, p)
	}
	for _, k := range o.Stale {
		if !slices.Contains(res.stale, k) {
			res.stale = append(res.stale, k)
		}
	}
	slices.SortFunc(res.stale, func(a, b model.Key) int {
		if a.Less(b) {
			return -1
		}
		if b.Less(a) {
			return 1
		}
		return 0
	})
	return res
}

// metrics returns the fetcher's counters (zero when the stage is inactive).
func (w *wasmStage) metrics() fetch.Metrics {
	if w.r == nil {
		return fetch.Metrics{}
	}
	return w.r.Fetcher().Metrics()
}

// WasmCacheDir is the directory of the Wasm module cache ("" when the control plane does not
// fetch modules itself).
func (c *ControlPlane) WasmCacheDir() string {
	if c.wasm.r == nil {
		return ""
	}
	return c.wasm.r.Fetcher().CacheDir()
}
