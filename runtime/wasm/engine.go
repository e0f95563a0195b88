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

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/trafficext/trafficext/filter/core"
	"github.com/trafficext/trafficext/filter/extconfig"
)

// Defaults for Options fields left zero.
const (
	DefaultCallTimeout   = 2 * time.Second
	DefaultStartTimeout  = 60 * time.Second
	DefaultMemoryPages   = 16384 // 1 GiB, proxy-wasm-cpp-host's limit
	DefaultMaxVMsCeiling = 16
)

// Options configures an Engine. Zero fields take the defaults.
type Options struct {
	// CacheDir holds wazero's compilation cache. Empty means
	// os.UserCacheDir()/trafficext/wazero; "-" disables the on-disk cache (memory only).
	CacheDir string
	// MaxVMsPerPlugin bounds the VM instances of one plugin (the stand-in for Envoy's one VM
	// per worker). Default: GOMAXPROCS, at most 16.
	MaxVMsPerPlugin int
	// CallTimeout bounds one call into a guest on the request path, by wall clock (a runaway
	// guest is stopped and its VM discarded; see callDeadline). A negative value disables the
	// bound for trusted modules: wazero then compiles no termination checks and starts no
	// watchdog goroutine per call, which cuts the in-process cost of a Go SDK header stream
	// about 3.5× (docs/wasm-compatibility.md).
	CallTimeout time.Duration
	// StartTimeout bounds VM start: _initialize, proxy_on_vm_start and proxy_on_configure.
	StartTimeout time.Duration
	// MemoryLimitPages bounds each VM's linear memory, in 64 KiB pages.
	MemoryLimitPages uint32
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
	return o
}

// Engine is the Proxy-Wasm engine. One wazero runtime (with the host modules env,
// wasi_snapshot_preview1 and wasi_unstable) serves every module; compiled modules are shared
// by digest; shared data and shared queues are engine-wide, i.e. shared by all VMs of the
// process, as Envoy shares them across workers.
type Engine struct {
	opts Options

	initOnce sync.Once
	initErr  error
	rt       wazero.Runtime

	mu      sync.Mutex
	modules map[string]*compiled // by sha256 hex

	shared *sharedStore
}

var _ core.Engine = (*Engine)(nil)

// New returns a Wasm engine. The wazero runtime is created at the first Load.
func New(opts Options) *Engine {
	return &Engine{opts: opts.withDefaults(), modules: map[string]*compiled{}, shared: newSharedStore()}
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
		ctx := context.Background()
		cfg := wazero.NewRuntimeConfig().
			WithCloseOnContextDone(e.opts.CallTimeout > 0).
			WithMemoryLimitPages(e.opts.MemoryLimitPages)
		dir, err := e.opts.cacheDir()
		if err != nil {
			e.initErr = err
			return
		}
		if dir != "" {
			if err := os.MkdirAll(dir, 0o755); err == nil {
				if cache, err := wazero.NewCompilationCacheWithDir(dir); err == nil {
					cfg = cfg.WithCompilationCache(cache)
				}
			}
		}
		e.rt = wazero.NewRuntimeWithConfig(ctx, cfg)
		if _, err := wasi_snapshot_preview1.Instantiate(ctx, e.rt); err != nil {
			e.initErr = fmt.Errorf("instantiating wasi_snapshot_preview1: %w", err)
			return
		}
		if err := instantiateWASIUnstable(ctx, e.rt); err != nil {
			e.initErr = err
			return
		}
		if err := instantiateEnv(ctx, e.rt); err != nil {
			e.initErr = err
		}
	})
	return e.initErr
}

// compiled is one compiled module shared by every plugin using the same bytes.
type compiled struct {
	digest string
	cm     wazero.CompiledModule
	abi    abiVersion
	refs   int
}

func (e *Engine) compile(digest string, bin []byte) (*compiled, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c, ok := e.modules[digest]; ok {
		c.refs++
		return c, nil
	}
	cm, err := e.rt.CompileModule(context.Background(), bin)
	if err != nil {
		return nil, fmt.Errorf("compiling module sha256[%s]: %w", digest, err)
	}
	abi := detectABI(cm)
	if abi == abiUnknown {
		cm.Close(context.Background())
		return nil, fmt.Errorf("module sha256[%s] exports no proxy_abi_version_0_2_1, _0_2_0 or _0_1_0", digest)
	}
	c := &compiled{digest: digest, cm: cm, abi: abi, refs: 1}
	e.modules[digest] = c
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

// Load reads, verifies and compiles the module (once per digest), then starts the first VM:
// _initialize, proxy_on_context_create(root), proxy_on_vm_start with the VM configuration and
// proxy_on_configure with the plugin configuration. A VM or plugin that refuses its
// configuration fails Load, so Envoy rejects the configuration and the previous one keeps
// serving.
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
	c, err := e.compile(digest, bin)
	if err != nil {
		return nil, err
	}
	p, err := newPlugin(e, ext, c, host)
	if err != nil {
		e.release(c)
		return nil, err
	}
	// Compilation and VM start leave a lot of garbage (decoder, compiler, the guest's own
	// start-up); hand it back to the OS now rather than at the next GC cycles.
	debug.FreeOSMemory()
	return p, nil
}
