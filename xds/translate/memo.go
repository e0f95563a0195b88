package translate

import (
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/trafficext/trafficext/xds/model"
)

// Memo shares the ECDS resources of one translation round between the proxies translated in
// it (Options.Memo): an extension attached to many proxies is built and marshaled once per
// callout gateway address instead of once per proxy and chain. The resources it hands out are
// shared and must not be modified. Use one Memo per round (a set of extensions and options):
// it keys by the extension's identity, so it must not outlive the extensions it saw. Safe for
// concurrent use.
type Memo struct {
	mu sync.Mutex
	m  map[memoKey]*memoEntry
}

type memoKey struct {
	ext     *model.Extension
	gateway string
}

type memoEntry struct {
	cfg     *corev3.TypedExtensionConfig
	problem *model.Error
	wasm    bool
	err     error
}

// NewMemo returns an empty Memo.
func NewMemo() *Memo { return &Memo{m: map[memoKey]*memoEntry{}} }

// extensionConfig is the package's extensionConfig through the memo (nil: none).
func (m *Memo) extensionConfig(e *model.Extension, opts Options) (*corev3.TypedExtensionConfig, *model.Error, bool, error) {
	if m == nil {
		return extensionConfig(e, opts)
	}
	k := memoKey{e, opts.gateway}
	m.mu.Lock()
	ent, ok := m.m[k]
	m.mu.Unlock()
	if !ok {
		ent = &memoEntry{}
		ent.cfg, ent.problem, ent.wasm, ent.err = extensionConfig(e, opts)
		m.mu.Lock()
		m.m[k] = ent
		m.mu.Unlock()
	}
	return ent.cfg, ent.problem, ent.wasm, ent.err
}
