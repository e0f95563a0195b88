package wasm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/trafficext/trafficext/engine/wasm/internal/cachedir"

	"github.com/trafficext/trafficext/engine/wasm/internal/shared"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/trafficext/trafficext/core"
	"github.com/trafficext/trafficext/engine/wasm/meter"
	"github.com/trafficext/trafficext/extconfig"
)

// Defaults for Options fields left zero.
const (
	DefaultCallTimeout   = 2 * time.Second
	DefaultStartTimeout  = 10 * time.Second
	DefaultMemoryPages   = 16384 // 1 GiB, proxy-wasm-cpp-host's limit
	DefaultMaxVMsCeiling = 16
)

// Options configures an Engine. Zero fields take the defaults.
type Options struct {
	// CacheDir holds wazero's compilation cache. Empty means
	// os.UserCacheDir()/trafficext/wazero; "-" disables the on-disk cache (memory only).
	CacheDir string
	// MaxVMsPerPlugin bounds the VM instances of one VM group (the plugins sharing a vm_id,
	// module and VM configuration; the stand-in for Envoy's one VM per worker). Default:
	// GOMAXPROCS, at most 16.
	MaxVMsPerPlugin int
	// CallTimeout bounds one call into a guest on the request path, by wall clock: a runaway
	// guest is stopped and its VM discarded. The module is instrumented with fuel metering
	// (package meter): the guest calls the host back about every meter.Fuel loop iterations or
	// function calls, and the host stops a call that ran out of time there (callBudget). A
	// module meter cannot rewrite falls back to wazero's termination checks and a callDeadline
	// per VM, which cost several times more per call. A negative value disables the bound for
	// trusted modules: nothing is instrumented.
	CallTimeout time.Duration
	// StartTimeout bounds VM start: _initialize, proxy_on_vm_start and proxy_on_configure. It
	// runs on Envoy's main thread (config_new), so a start that loops must not hold it for
	// Envoy's own 60 s limit; the default leaves a heavy start (Coraza loading the CRS, about
	// 3 s on an idle core) room on a loaded host.
	StartTimeout time.Duration
	// MemoryLimitPages bounds each VM's linear memory, in 64 KiB pages.
	MemoryLimitPages uint32
	// CacheMaxBytes bounds the on-disk compilation cache: after each compilation the least
	// recently written entries beyond it are removed (cachedir.Prune). 0 means
	// DefaultCacheMaxBytes; negative, unbounded.
	CacheMaxBytes int64
}

func (o Options) withDefaults() Options {
	if o.MaxVMsPerPlugin <= 0 {
		o.MaxVMsPerPlugin = min(goruntime.GOMAXPROCS(0), DefaultMaxVMsCeiling)
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.MemoryLimitPages == 0 {
		o.MemoryLimitPages = DefaultMemoryPages
	}
	if o.CacheMaxBytes == 0 {
		o.CacheMaxBytes = DefaultCacheMaxBytes
	}
	return o
}

// DefaultCacheMaxBytes bounds the on-disk compilation cache (Options.CacheMaxBytes).
const DefaultCacheMaxBytes = 1 << 30

// Engine is the Proxy-Wasm engine. One wazero runtime (with the host modules env,
// wasi_snapshot_preview1, wasi_unstable and, when calls are bounded, trafficext_meter) serves
// every module; a second one, compiled with wazero's termination checks, is created for
// modules the meter cannot instrument. Compiled modules are shared by digest; shared data and
// shared queues are engine-wide, i.e. shared by all VMs of the process, as Envoy shares them
// across workers.
type Engine struct {
	opts Options

	initOnce sync.Once
	initErr  error
	cache    wazero.CompilationCache
	cacheDir string // the on-disk cache's directory ("" when in memory)
	rt       wazero.Runtime

	// instrument adds fuel metering to a module (meter.Instrument; tests replace it).
	instrument func([]byte) ([]byte, error)

	checkedOnce sync.Once
	checkedErr  error
	checked     wazero.Runtime // WithCloseOnContextDone: the fallback of boundContext

	mu      sync.Mutex
	modules map[string]*compiled // by sha256 hex
	groups  map[string]*vmGroup  // by groupKey

	shared *shared.Store[*rootCtx]
}

var _ core.Engine = (*Engine)(nil)

// New returns a Wasm engine. The wazero runtime is created at the first Load.
func New(opts Options) *Engine {
	return &Engine{opts: opts.withDefaults(), instrument: meter.Instrument, modules: map[string]*compiled{}, groups: map[string]*vmGroup{}, shared: shared.New[*rootCtx]()}
}

// Kind returns "wasm".
func (e *Engine) Kind() string { return "wasm" }

// CacheDir returns the compilation cache directory Options resolve to ("" when disabled).
func (o Options) cacheDir() (string, error) {
	switch o.CacheDir {
	case "-":
		return "", nil
	case "":
		d, err := os.UserCacheDir()
		if err != nil {
			d = os.TempDir()
		}
		return filepath.Join(d, "trafficext", "wazero"), nil
	}
	return o.CacheDir, nil
}

func (e *Engine) init() error {
	e.initOnce.Do(func() {
		dir, err := e.opts.cacheDir()
		if err != nil {
			e.initErr = err
			return
		}
		if dir != "" {
			if err := os.MkdirAll(dir, 0o755); err == nil {
				if cache, err := wazero.NewCompilationCacheWithDir(dir); err == nil {
					e.cache, e.cacheDir = cache, dir
				}
			}
		}
		e.rt, e.initErr = e.newRuntime(false, e.opts.CallTimeout > 0)
	})
	return e.initErr
}

// checkedRuntime returns the runtime compiling termination checks (created at first use).
func (e *Engine) checkedRuntime() (wazero.Runtime, error) {
	e.checkedOnce.Do(func() { e.checked, e.checkedErr = e.newRuntime(true, false) })
	return e.checked, e.checkedErr
}

// newRuntime creates a runtime with the host modules; closeOnDone compiles wazero's
// termination checks, metered adds the refuel module.
func (e *Engine) newRuntime(closeOnDone, metered bool) (wazero.Runtime, error) {
	ctx := context.Background()
	cfg := wazero.NewRuntimeConfig().
		WithCloseOnContextDone(closeOnDone).
		WithMemoryLimitPages(e.opts.MemoryLimitPages)
	if e.cache != nil {
		cfg = cfg.WithCompilationCache(e.cache)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	err := func() error {
		if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
			return fmt.Errorf("instantiating wasi_snapshot_preview1: %w", err)
		}
		if err := instantiateWASIUnstable(ctx, rt); err != nil {
			return err
		}
		if metered {
			if err := instantiateMeter(ctx, rt); err != nil {
				return err
			}
		}
		return instantiateEnv(ctx, rt)
	}()
	if err != nil {
		rt.Close(ctx)
		return nil, err
	}
	return rt, nil
}

// compiled is one compiled module shared by every plugin using the same bytes.
type compiled struct {
	digest string
	rt     wazero.Runtime // the runtime cm was compiled on, to instantiate it on
	cm     wazero.CompiledModule
	bound  bound
	abi    abiVersion
	refs   int
}

// compile compiles bin once per digest. With a call bound, bin is instrumented with fuel
// metering first: malformed input is rejected there; for a module using something the meter
// does not support, warn is told why and the module is compiled with wazero's termination
// checks instead.
func (e *Engine) compile(digest string, bin []byte, warn func(string)) (*compiled, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c, ok := e.modules[digest]; ok {
		c.refs++
		return c, nil
	}
	ctx := context.Background()
	c := &compiled{digest: digest, rt: e.rt, refs: 1}
	var err error
	if e.opts.CallTimeout > 0 {
		c.bound = boundFuel
		metered, ierr := e.instrument(bin)
		if errors.Is(ierr, meter.ErrMalformed) {
			// Not a module; and wazero v1.12.0's decoder preallocates what the counts of such
			// input claim (a fatal out-of-memory, not an error), so it is not handed on.
			return nil, fmt.Errorf("module sha256[%s]: %w", digest, ierr)
		}
		if ierr == nil {
			if c.cm, ierr = e.rt.CompileModule(ctx, metered); ierr != nil {
				ierr = fmt.Errorf("compiling the metered module: %w", ierr)
			}
		}
		if ierr != nil {
			c.bound = boundContext
			if c.rt, err = e.checkedRuntime(); err != nil {
				return nil, fmt.Errorf("creating the runtime for module sha256[%s]: %w", digest, err)
			}
			if c.cm, err = c.rt.CompileModule(ctx, bin); err != nil {
				return nil, fmt.Errorf("compiling module sha256[%s]: %w", digest, err)
			}
			warn(fmt.Sprintf("wasm module sha256[%s]: cannot add fuel metering (%v); bounding its calls with wazero's termination checks, which are slower", digest, ierr))
		}
	} else if c.cm, err = c.rt.CompileModule(ctx, bin); err != nil {
		return nil, fmt.Errorf("compiling module sha256[%s]: %w", digest, err)
	}
	c.abi = detectABI(c.cm)
	if c.abi == abiUnknown {
		c.cm.Close(ctx)
		return nil, fmt.Errorf("module sha256[%s] exports no proxy_abi_version_0_2_1, _0_2_0 or _0_1_0", digest)
	}
	e.modules[digest] = c
	if e.cacheDir != "" && e.opts.CacheMaxBytes > 0 {
		if _, removed, err := cachedir.Prune(e.cacheDir, e.opts.CacheMaxBytes, time.Now()); err != nil {
			warn(fmt.Sprintf("pruning the wasm compilation cache %s: %v", e.cacheDir, err))
		} else if removed > 0 {
			warn(fmt.Sprintf("wasm compilation cache %s: removed %d MiB of the oldest entries (limit %d MiB)", e.cacheDir, removed>>20, e.opts.CacheMaxBytes>>20))
		}
	}
	return c, nil
}

func (e *Engine) release(c *compiled) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c.refs--
	if c.refs == 0 {
		delete(e.modules, c.digest)
		c.cm.Close(context.Background())
	}
}

func detectABI(cm wazero.CompiledModule) abiVersion {
	ex := cm.ExportedFunctions()
	switch {
	case ex["proxy_abi_version_0_2_1"] != nil:
		return abi021
	case ex["proxy_abi_version_0_2_0"] != nil:
		return abi020
	case ex["proxy_abi_version_0_1_0"] != nil:
		return abi010
	}
	return abiUnknown
}

// Load reads, verifies and compiles the module (once per digest) and starts the plugin's root
// context in every VM of its group (vm_id, module, VM configuration), starting the first VM
// when there is none (_initialize): proxy_on_context_create(root), proxy_on_vm_start with the
// VM configuration and proxy_on_configure with the plugin configuration. A VM or plugin that refuses its
// configuration fails Load (the core decides what Envoy sees: see core.Runtime.NewConfig).
func (e *Engine) Load(ext *extconfig.Extension, host core.ConfigHost) (core.Plugin, error) {
	w := ext.Wasm
	if w == nil {
		return nil, errors.New("not a wasm extension")
	}
	if err := e.init(); err != nil {
		return nil, err
	}
	bin, err := os.ReadFile(w.Path)
	if err != nil {
		return nil, fmt.Errorf("reading module: %w", err)
	}
	sum := sha256.Sum256(bin)
	digest := hex.EncodeToString(sum[:])
	if w.SHA256 != "" && !strings.EqualFold(w.SHA256, digest) {
		return nil, fmt.Errorf("module %s: sha256 %s does not match the configured %s", w.Path, digest, w.SHA256)
	}
	c, err := e.compile(digest, bin, func(msg string) {
		if host != nil {
			host.Log(core.LogWarn, msg)
		}
	})
	if err != nil {
		return nil, err
	}
	p, err := newPlugin(e, ext, host)
	if err != nil {
		e.release(c)
		return nil, err
	}
	p.g = e.group(groupKey(w, digest), c, w)
	if err := p.g.join(p, host); err != nil {
		p.g.closeIdle()
		return nil, err
	}
	// Compilation and VM start leave a lot of garbage (decoder, compiler, the guest's own
	// start-up); hand it back to the OS now rather than at the next GC cycles.
	debug.FreeOSMemory()
	return p, nil
}
