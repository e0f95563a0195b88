package lua

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	glua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"

	"github.com/trafficext/trafficext/core"
	"github.com/trafficext/trafficext/extconfig"
)

// Defaults for Options fields left zero.
const (
	DefaultCallTimeout    = 20 * time.Millisecond
	DefaultCallStackSize  = 200
	DefaultRegistrySize   = 1024
	DefaultRegistryMax    = 256 * 1024
	DefaultMaxStringBytes = 16 << 20
	DefaultMaxIdleStates  = 64
	DefaultMaxCallAlloc   = 64 << 20
)

// Options configures an Engine. Zero fields take the defaults above.
type Options struct {
	// CallTimeout bounds one call into a script (one hook start or one resume) in CPU time of the
	// calling thread, with a wall-clock cap of max(10×CallTimeout, 1s). An
	// extension may override it with lua.callTimeoutMillis.
	CallTimeout time.Duration
	// CallStackSize bounds the Lua call depth (deep recursion fails with "stack overflow").
	CallStackSize int
	// RegistrySize is the initial Lua value stack of a state; RegistryMax the most it may grow
	// to (registry overflow is a script error).
	RegistrySize int
	RegistryMax  int
	// MaxStringBytes bounds a string built by one library call (string.rep, gsub, format,
	// table.concat, ...: strlib.go).
	MaxStringBytes int
	// MaxIdleStates bounds the free list of prepared states kept per plugin.
	MaxIdleStates int
	// MaxCallAlloc bounds the bytes allocated while one call runs (checked every millisecond
	// from 1ms into the call; process-wide figure, see deadline.go). Negative: unbounded.
	MaxCallAlloc int64
}

func (o Options) withDefaults() Options {
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.CallStackSize <= 0 {
		o.CallStackSize = DefaultCallStackSize
	}
	if o.RegistrySize < 128 {
		o.RegistrySize = DefaultRegistrySize
	}
	if o.RegistryMax < o.RegistrySize {
		o.RegistryMax = max(DefaultRegistryMax, o.RegistrySize)
	}
	if o.MaxStringBytes <= 0 {
		o.MaxStringBytes = DefaultMaxStringBytes
	}
	if o.MaxIdleStates <= 0 {
		o.MaxIdleStates = DefaultMaxIdleStates
	}
	if o.MaxCallAlloc == 0 {
		o.MaxCallAlloc = DefaultMaxCallAlloc
	}
	return o
}

// Engine is the Lua engine. It is safe for concurrent use and holds no per-extension state.
type Engine struct {
	opts Options
}

var _ core.Engine = (*Engine)(nil)

// memMax is the per-call allocation budget handed to the deadline.
func (o Options) memMax() uint64 {
	if o.MaxCallAlloc < 0 {
		return 0
	}
	return uint64(o.MaxCallAlloc)
}

// New returns a Lua engine.
func New(opts Options) *Engine { return &Engine{opts: opts.withDefaults()} }

// Kind returns "lua".
func (e *Engine) Kind() string { return "lua" }

// chunkName names the script in Lua error messages and tracebacks.
const chunkName = "lua.inlineCode"

// Load compiles the extension's script once, runs it in a first state to find its hooks, and
// returns a plugin that keeps a pool of prepared states.
func (e *Engine) Load(ext *extconfig.Extension, host core.ConfigHost) (core.Plugin, error) {
	if ext == nil || ext.Lua == nil {
		return nil, errors.New("lua engine: extension has no lua configuration")
	}
	proto, err := compile(ext.Lua.InlineCode)
	if err != nil {
		return nil, err
	}
	opts := e.opts
	if ms := ext.Lua.CallTimeoutMillis; ms > 0 {
		opts.CallTimeout = time.Duration(ms) * time.Millisecond
	}
	p := &plugin{name: ext.Name, proto: proto, opts: opts, yieldingPcall: mayYield(ext.Lua.InlineCode)}
	prefix := core.StatPrefix(ext.Name)
	if p.stats.errors, err = host.DefineCounter(prefix + "script_error"); err != nil {
		return nil, fmt.Errorf("defining counter %q: %w", prefix+"script_error", err)
	}
	if p.stats.timeouts, err = host.DefineCounter(prefix + "script_timeout"); err != nil {
		return nil, fmt.Errorf("defining counter %q: %w", prefix+"script_timeout", err)
	}
	v, err := p.newVM()
	if err != nil {
		return nil, err
	}
	p.hasRequest, p.hasResponse = v.onRequest != nil, v.onResponse != nil
	if !p.hasRequest && !p.hasResponse {
		v.close()
		return nil, errors.New("script load error: the script defines neither envoy_on_request nor envoy_on_response")
	}
	for _, h := range []struct {
		ok   bool
		name string
	}{{p.hasRequest, "envoy_on_request"}, {p.hasResponse, "envoy_on_response"}} {
		if !h.ok {
			host.Log(core.LogInfo, fmt.Sprintf("trafficext: lua extension %q: %s() function not found, the filter will not hook that direction", ext.Name, h.name))
		}
	}
	p.put(v)
	return p, nil
}

// compile parses and compiles source into a prototype shared read-only by every state.
func compile(source string) (*glua.FunctionProto, error) {
	chunk, err := parse.Parse(strings.NewReader(source), chunkName)
	if err != nil {
		var pe *parse.Error
		if errors.As(err, &pe) {
			if pe.Pos.Line == parse.EOF {
				return nil, fmt.Errorf("script load error: %s: at EOF: %s", chunkName, pe.Message)
			}
			return nil, fmt.Errorf("script load error: %s: line %d: %s near %q", chunkName, pe.Pos.Line, pe.Message, pe.Token)
		}
		return nil, fmt.Errorf("script load error: %s: %w", chunkName, err)
	}
	proto, err := glua.Compile(rewriteForLoops(chunk), chunkName)
	if err != nil {
		var ce *glua.CompileError
		if errors.As(err, &ce) {
			return nil, fmt.Errorf("script load error: %s: line %d: %s", chunkName, ce.Line, ce.Message)
		}
		return nil, fmt.Errorf("script load error: %s: %w", chunkName, err)
	}
	return proto, nil
}

// plugin is one loaded script.
type plugin struct {
	name  string
	proto *glua.FunctionProto
	opts  Options
	stats struct {
		errors, timeouts core.MetricID
	}
	hasRequest, hasResponse bool
	// yieldingPcall: the script may call a blocking host function, so its pcall and xpcall
	// are the yieldable ones (pcall.go).
	yieldingPcall bool

	mu     sync.Mutex
	free   []*vm
	closed bool
}

var _ core.Plugin = (*plugin)(nil)

// get takes a prepared state from the free list or makes one.
func (p *plugin) get() (*vm, error) {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		v := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		p.mu.Unlock()
		return v, nil
	}
	p.mu.Unlock()
	return p.newVM()
}

// put returns a healthy state to the free list (or closes it when the list is full).
func (p *plugin) put(v *vm) {
	p.mu.Lock()
	if !p.closed && len(p.free) < p.opts.MaxIdleStates {
		p.free = append(p.free, v)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	v.close()
}

// idle reports how many states the free list holds (for tests).
func (p *plugin) idle() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.free)
}

// Close drops the free states; states still used by streams are closed when released.
func (p *plugin) Close() {
	p.mu.Lock()
	free := p.free
	p.free, p.closed = nil, true
	p.mu.Unlock()
	for _, v := range free {
		v.close()
	}
}

// NewFilter starts the script for one stream. Nothing touches Lua until a hooked event.
func (p *plugin) NewFilter(s core.Stream) core.Filter {
	f := &filter{p: p, s: s}
	f.req.init(f, false)
	f.resp.init(f, true)
	return f
}
