// Package startcheck proves that a Proxy-Wasm module starts with an extension's configuration
// before the control plane sends it to proxies: it loads the module on the same engine the
// proxy runs (engine/wasm: compile, instantiate, _initialize, proxy_on_vm_start and
// proxy_on_configure with the extension's root id, plugin and VM configuration and env) under
// a short start bound, then releases it. A module that traps, refuses its configuration,
// imports a function no host provides, is truncated or loops there fails the check, and the
// control plane applies the extension's fail strategy instead of pushing it (xds/fetch
// Resolver, whose StartChecker this implements).
//
// Results are cached by (module digest, start configuration), so each version is checked once.
package startcheck

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/trafficext/trafficext/core"
	"github.com/trafficext/trafficext/engine/wasm"
	"github.com/trafficext/trafficext/extconfig"
)

// DefaultTimeout bounds one start (instantiation and the start callbacks), as the proxy's
// engine does by default.
const DefaultTimeout = wasm.DefaultStartTimeout

// Options configure a Checker. The zero value gives the defaults.
type Options struct {
	// Timeout bounds the start of the module (not its compilation); 0 means DefaultTimeout.
	Timeout time.Duration
	// CacheDir is the wazero compilation cache ("" the engine's default, "-" memory only). The
	// default is the proxy engine's default too, so on one host a check also compiles for the
	// proxy (wazero writes cache entries atomically).
	CacheDir string
	// MaxResults bounds the cached results; 0 means 1024. The oldest are dropped first.
	MaxResults int
}

// Checker checks module starts. It is safe for concurrent use.
type Checker struct {
	eng *wasm.Engine
	max int

	mu      sync.Mutex
	results map[string]*result
	order   []string
}

type result struct {
	done chan struct{}
	err  error
}

// New returns a Checker with its own Wasm engine (created lazily at the first check).
func New(opts Options) *Checker {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxResults <= 0 {
		opts.MaxResults = 1024
	}
	return &Checker{
		eng:     wasm.New(wasm.Options{CacheDir: opts.CacheDir, StartTimeout: opts.Timeout, MaxVMsPerPlugin: 1}),
		max:     opts.MaxResults,
		results: map[string]*result{},
	}
}

// CheckStart loads ext.Wasm (a verified local module) and starts one VM with its
// configuration; the error says why it does not start. Concurrent checks of the same module
// and configuration share one load.
func (c *Checker) CheckStart(ctx context.Context, ext *extconfig.Extension) error {
	if ext == nil || ext.Wasm == nil {
		return errors.New("not a Wasm extension")
	}
	key := cacheKey(ext.Wasm)
	c.mu.Lock()
	r, ok := c.results[key]
	if !ok {
		r = &result{done: make(chan struct{})}
		c.results[key] = r
		c.order = append(c.order, key)
		for len(c.order) > c.max {
			delete(c.results, c.order[0])
			c.order = c.order[1:]
		}
		go func() {
			r.err = c.load(ext)
			if IsTimeout(r.err) {
				// A start cut off by the bound may only have met a busy host: not cached, so a
				// retry runs it again.
				c.forget(key, r)
			}
			close(r.done)
		}()
	}
	c.mu.Unlock()
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Checker) forget(key string, r *result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.results[key] == r {
		delete(c.results, key)
		for i, k := range c.order {
			if k == key {
				c.order = append(c.order[:i:i], c.order[i+1:]...)
				break
			}
		}
	}
}

// IsTimeout reports whether err is a start cut off by the bound (Error.Timeout).
func IsTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// cacheKey is the module digest and a hash of everything the start callbacks can see.
func cacheKey(w *extconfig.Wasm) string {
	b, _ := json.Marshal(struct {
		Root, VM      string
		Plugin, VMCfg []byte
		Env           map[string]string
	}{w.PluginName, w.VMID, w.PluginConfig, w.VMConfig, w.Env})
	h := sha256.Sum256(b)
	return strings.ToLower(w.SHA256) + "/" + hex.EncodeToString(h[:])
}

func (c *Checker) load(ext *extconfig.Extension) error {
	h := &host{}
	p, err := c.eng.Load(ext, h)
	if err != nil {
		return &Error{Err: err, Log: h.lastError()}
	}
	p.Close()
	return nil
}

// Error is a module that does not start. Its text is the first line of the engine's reason
// (wazero appends a guest stack trace), made readable for the usual causes, plus the last
// error the guest logged while starting.
type Error struct {
	Err error
	Log string
}

var (
	missingImport = regexp.MustCompile(`"([^"]+)" is not exported in module "([^"]+)"|module\[([^\]]+)\] not instantiated`)
	timedOut      = regexp.MustCompile(`(\w+): .*time bound`)
)

// Error implements error.
func (e *Error) Error() string {
	msg, _, _ := strings.Cut(e.Err.Error(), "\n")
	switch {
	case missingImport.MatchString(msg):
		m := missingImport.FindStringSubmatch(msg)
		if m[1] != "" {
			msg = "imports unknown function " + m[2] + "." + m[1]
		} else {
			msg = "imports from unknown module " + m[3]
		}
	case timedOut.MatchString(msg):
		msg = timedOut.FindStringSubmatch(msg)[1] + " did not return within the start bound"
	}
	if e.Log != "" {
		msg += " (guest log: " + e.Log + ")"
	}
	return msg
}

// Timeout reports a start that did not return within the bound: a loop, or a heavy start on
// a busy host, which a later attempt may pass (the control plane retries it).
func (e *Error) Timeout() bool {
	return timedOut.MatchString(strings.SplitN(e.Err.Error(), "\n", 2)[0])
}

// Unwrap returns the engine's error.
func (e *Error) Unwrap() error { return e.Err }

// host is the ConfigHost of a check: stats are accepted and dropped, the guest's warnings
// and errors are kept to explain a refusal.
type host struct {
	mu   sync.Mutex
	next core.MetricID
	errs []string
}

func (h *host) define() (core.MetricID, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.next++
	return h.next, nil
}

func (h *host) DefineCounter(string) (core.MetricID, error)   { return h.define() }
func (h *host) DefineGauge(string) (core.MetricID, error)     { return h.define() }
func (h *host) DefineHistogram(string) (core.MetricID, error) { return h.define() }

func (h *host) Log(level core.LogLevel, msg string) {
	if level < core.LogError {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.errs = append(h.errs, msg)
}

func (h *host) lastError() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.errs) == 0 {
		return ""
	}
	s, _, _ := strings.Cut(h.errs[len(h.errs)-1], "\n")
	return s
}

var _ core.ConfigHost = (*host)(nil)
