package golang

import (
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/trafficext/trafficext/core"
	"github.com/trafficext/trafficext/extconfig"
	"github.com/trafficext/trafficext/host/contract"
)

// funcEngine is a core.Engine whose extensions are Go functions, registered by name in
// behaviours and selected by the extension's Lua source text.
type funcEngine struct {
	mu         sync.Mutex
	behaviours map[string]func(core.Stream) *funcFilter
	closed     atomic.Int32
}

func newFuncEngine() *funcEngine {
	return &funcEngine{behaviours: map[string]func(core.Stream) *funcFilter{}}
}

func (e *funcEngine) Kind() string { return "lua" }

func (e *funcEngine) Load(ext *extconfig.Extension, _ core.ConfigHost) (core.Plugin, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return &funcPlugin{e: e, mk: e.behaviours[ext.Lua.InlineCode]}, nil
}

// register adds a behaviour and returns the extension that selects it.
func (e *funcEngine) register(name string, fail extconfig.FailStrategy, mk func(core.Stream) *funcFilter) extconfig.Extension {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.behaviours[name] = mk
	return extconfig.Extension{
		Schema:       extconfig.SchemaVersion,
		Name:         contract.NamePrefix + name,
		FailStrategy: fail,
		Lua:          &extconfig.Lua{InlineCode: name},
	}
}

type funcPlugin struct {
	e  *funcEngine
	mk func(core.Stream) *funcFilter
}

func (p *funcPlugin) NewFilter(s core.Stream) core.Filter {
	if p.mk == nil {
		return &funcFilter{}
	}
	return p.mk(s)
}

func (p *funcPlugin) Close() { p.e.closed.Add(1) }

// funcFilter runs the functions that are set; the others continue.
type funcFilter struct {
	reqHeaders, reqBody, respHeaders, respBody func(end bool) core.Status
	complete, destroy                          func()
}

func call(fn func(bool) core.Status, end bool) core.Status {
	if fn == nil {
		return core.Continue
	}
	return fn(end)
}

func (f *funcFilter) OnRequestHeaders(end bool) core.Status  { return call(f.reqHeaders, end) }
func (f *funcFilter) OnRequestBody(end bool) core.Status     { return call(f.reqBody, end) }
func (f *funcFilter) OnRequestTrailers() core.Status         { return core.Continue }
func (f *funcFilter) OnResponseHeaders(end bool) core.Status { return call(f.respHeaders, end) }
func (f *funcFilter) OnResponseBody(end bool) core.Status    { return call(f.respBody, end) }
func (f *funcFilter) OnResponseTrailers() core.Status        { return core.Continue }
func (f *funcFilter) OnStreamComplete() {
	if f.complete != nil {
		f.complete()
	}
}
func (f *funcFilter) OnDestroy() {
	if f.destroy != nil {
		f.destroy()
	}
}

// stringConfig wraps an extension as the golang filter's plugin_config.
func stringConfig(t testing.TB, ext extconfig.Extension) *anypb.Any {
	t.Helper()
	raw, err := extconfig.Marshal(&ext)
	if err != nil {
		t.Fatal(err)
	}
	a, err := anypb.New(wrapperspb.String(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// harness parses extensions with a plugin and runs cases through the fake chain.
type harness struct {
	t         testing.TB
	p         *Plugin
	callbacks *fakeConfigCallbacks
}

func newHarness(t testing.TB, engines []core.Engine, opts ...core.Option) *harness {
	return &harness{t: t, p: New(engines, opts...), callbacks: newFakeConfigCallbacks()}
}

// run parses c's extensions, sends c's request through them and destroys the configs.
func (h *harness) run(c contract.Case) chainResult {
	h.t.Helper()
	configs := make([]any, 0, len(c.Extensions))
	for _, ext := range c.Extensions {
		cfg, err := h.p.Parse(stringConfig(h.t, ext), h.callbacks)
		if err != nil {
			h.t.Fatalf("Parse(%s): %v", ext.Name, err)
		}
		configs = append(configs, cfg)
	}
	defer func() {
		for _, cfg := range configs {
			cfg.(*configHandle).Destroy()
		}
	}()
	return runChain(h.t, h.p.Factory, configs, c)
}
