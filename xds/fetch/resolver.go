package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"istio.io/api/extensions/v1alpha1"

	"github.com/trafficext/trafficext/extconfig"
	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/translate"
)

// ResolverOptions configure a Resolver. The zero value gives the defaults.
type ResolverOptions struct {
	// SyncWait is how long Prepare waits for the fetches it starts before it returns; a module
	// still being fetched then counts as unavailable until it arrives (and the change callback
	// fires). 0 means 5s.
	SyncWait time.Duration
	// RetryBase and RetryMax bound the exponential backoff of background re-fetches of failed
	// modules; 0 means 1s and 1m.
	RetryBase, RetryMax time.Duration
	// Logger; nil means the fetcher's.
	Logger *slog.Logger
	// StartChecker, when set, proves that each fetched module starts with its extension's
	// configuration before it is served; a module that does not start is handled as one that
	// cannot be had (keep-last-good, else the fail strategy) and is not retried until the
	// resource changes, unless the check was cut off by its bound (Timeout() on the error:
	// a few retries).
	StartChecker StartChecker
}

// StartChecker starts a Wasm module the way a proxy will: ext is the extension's ECDS message
// with its verified local module (ext.Wasm.Path, SHA256), root id, plugin and VM
// configuration and env. The error says why the module does not start (a trap in
// proxy_on_vm_start or proxy_on_configure, a refused configuration, an unknown import, a
// malformed module, a start that does not return). It must be bounded in time and may cache
// its results by module and configuration. The Wasm engine implements it
// (engine/wasm/startcheck); this package only names it, so the control plane does not depend
// on the data plane's engines.
type StartChecker interface {
	CheckStart(ctx context.Context, ext *extconfig.Extension) error
}

// SecretLookup returns the .dockerconfigjson of the kubernetes.io/dockerconfigjson Secret
// namespace/name, and whether there is one.
type SecretLookup func(namespace, name string) ([]byte, bool)

// Resolver is the control plane's module stage. Prepare fetches the modules of a set of
// extensions (each extension version once) before the set is translated; Resolve (the
// translate.WasmResolver) then answers from memory. It implements these rules:
//
//   - a version whose module is fetched and verified is served with it;
//   - a version whose module cannot be had while an earlier version of the same resource was
//     served with its module: the earlier version keeps serving (keep-last-good), and a
//     problem says why;
//   - otherwise the extension is translated with an unavailable module, so its fail strategy
//     applies (FAIL_OPEN: left out; FAIL_CLOSE/FAIL_RELOAD: a deny slot);
//   - a failed module is fetched again in the background with exponential backoff; when it
//     arrives, the change callback fires so the control plane recomputes what it serves.
type Resolver struct {
	f    *Fetcher
	opts ResolverOptions
	log  *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	change chan struct{}

	mu       sync.Mutex
	attempts map[versionKey]*attempt
	good     map[model.Key]*goodVersion
}

var _ translate.WasmResolver = (*Resolver)(nil)

type versionKey struct {
	key model.Key
	rv  string
}

type attempt struct {
	ext      *model.Extension
	req      Request
	secret   string // hash of the pull secret, to notice a change
	done     chan struct{}
	finished bool
	mod      Module
	err      error
	failures int
	retrying bool
}

type goodVersion struct {
	ext *model.Extension
	mod Module
}

// NewResolver returns a Resolver fetching with f.
func NewResolver(f *Fetcher, opts ResolverOptions) *Resolver {
	if opts.SyncWait <= 0 {
		opts.SyncWait = 5 * time.Second
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = time.Second
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = time.Minute
	}
	log := opts.Logger
	if log == nil {
		log = f.log
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Resolver{
		f: f, opts: opts, log: log, ctx: ctx, cancel: cancel,
		change:   make(chan struct{}, 1),
		attempts: map[versionKey]*attempt{},
		good:     map[model.Key]*goodVersion{},
	}
}

// Fetcher returns the fetcher.
func (r *Resolver) Fetcher() *Fetcher { return r.f }

// Run calls onChange (never concurrently) after a module became available or failed outside
// Prepare, until ctx ends; then it stops background fetches.
func (r *Resolver) Run(ctx context.Context, onChange func()) {
	defer r.cancel()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.change:
			onChange()
		}
	}
}

// Close stops background fetches (Run does it when its context ends).
func (r *Resolver) Close() { r.cancel() }

// Outcome is what Prepare decided.
type Outcome struct {
	// Serve is the extension set to translate: the input, with the previous version in place
	// of a Wasm extension whose new module cannot be had.
	Serve []*model.Extension
	// Stale lists the resources served from a previous version for that reason.
	Stale []model.Key
	// Problems name the extension, the URL and the registry of each module that cannot be had.
	Problems []*model.Error
	// Rejected lists the resources whose module does not start (StartChecker) and that have
	// no earlier version to serve: their fail strategy applies.
	Rejected []model.Key
}

// Prepare fetches (or finds in the cache) the module of every Wasm extension in exts, waiting
// up to SyncWait for the fetches (and start checks) it starts, and returns what to serve.
// Calls must not overlap (the control plane serialises them).
func (r *Resolver) Prepare(exts []*model.Extension, secrets SecretLookup) Outcome {
	r.mu.Lock()
	var waits []chan struct{}
	for _, e := range exts {
		w := e.Spec.GetWasm()
		if w == nil {
			continue
		}
		req := request(e, w, secrets)
		sh := sha256.Sum256(req.PullSecret)
		secret := hex.EncodeToString(sh[:])
		vk := versionKey{e.Key, e.ResourceVersion}
		a := r.attempts[vk]
		if a != nil && a.secret == secret {
			// Pending since an earlier Prepare, which already waited for it: this change
			// (another extension's, say) is not held up again by a slow fetch or start check.
			continue
		}
		a = &attempt{ext: e, req: req, secret: secret, done: make(chan struct{})}
		r.attempts[vk] = a
		waits = append(waits, a.done)
		go r.fetch(a, vk, true)
	}
	r.mu.Unlock()

	deadline := time.NewTimer(r.opts.SyncWait)
	defer deadline.Stop()
wait:
	for _, c := range waits {
		select {
		case <-c:
		case <-deadline.C:
			break wait
		}
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	var out Outcome
	current := map[versionKey]bool{}
	present := map[model.Key]bool{}
	var inUse []string
	for _, e := range exts {
		w := e.Spec.GetWasm()
		if w == nil {
			out.Serve = append(out.Serve, e)
			continue
		}
		vk := versionKey{e.Key, e.ResourceVersion}
		current[vk] = true
		present[e.Key] = true
		a := r.attempts[vk]
		if a.finished && a.err == nil {
			r.good[e.Key] = &goodVersion{ext: e, mod: a.mod}
			out.Serve = append(out.Serve, e)
			inUse = append(inUse, a.mod.SHA256)
			continue
		}
		why := "the module is still being fetched"
		if a.finished {
			why = a.err.Error()
		}
		if g := r.good[e.Key]; g != nil {
			out.Serve = append(out.Serve, g.ext)
			inUse = append(inUse, g.mod.SHA256)
			if g.ext.ResourceVersion != e.ResourceVersion {
				out.Stale = append(out.Stale, e.Key)
				out.Problems = append(out.Problems, e.Errorf("spec.wasm.url", 0,
					fmt.Sprintf("%s; the previous version keeps serving module sha256 %s", why, g.mod.SHA256)))
			}
			continue
		}
		out.Serve = append(out.Serve, e)
		if a.finished && ReasonOf(a.err) == ReasonStart {
			out.Rejected = append(out.Rejected, e.Key)
		}
		out.Problems = append(out.Problems, e.Errorf("spec.wasm.url", 0,
			fmt.Sprintf("%s; failStrategy %s applies%s", why, w.GetFailStrategy(), retryNote(a))))
	}
	for vk := range r.attempts {
		if !current[vk] {
			delete(r.attempts, vk)
		}
	}
	for k := range r.good {
		if !present[k] {
			delete(r.good, k)
		}
	}
	r.f.SetInUse(inUse)
	return out
}

func retryNote(a *attempt) string {
	if a.finished && a.retrying {
		if ReasonOf(a.err) == ReasonStart {
			return " until a background start check passes"
		}
		return " until a background re-fetch succeeds"
	}
	return ""
}

// Resolve implements translate.WasmResolver from what Prepare (and background fetches) found.
func (r *Resolver) Resolve(e *model.Extension) (string, string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if g := r.good[e.Key]; g != nil && g.ext.ResourceVersion == e.ResourceVersion {
		return g.mod.Path, g.mod.SHA256, nil
	}
	a := r.attempts[versionKey{e.Key, e.ResourceVersion}]
	switch {
	case a == nil:
		return "", "", errors.New("the module was not fetched (control plane not prepared)")
	case !a.finished:
		return "", "", fmt.Errorf("module %s is still being fetched", a.req.URL)
	case a.err != nil:
		return "", "", a.err
	}
	return a.mod.Path, a.mod.SHA256, nil
}

// fetch runs one attempt; on failure it schedules the next with backoff.
func (r *Resolver) fetch(a *attempt, vk versionKey, first bool) {
	if !first {
		r.mu.Lock()
		stale := r.attempts[vk] != a || r.ctx.Err() != nil
		r.mu.Unlock()
		if stale {
			return // the resource changed or went away, or the resolver was closed
		}
	}
	mod, err := r.f.Fetch(r.ctx, a.req)
	if err == nil {
		err = r.checkStart(a, mod)
	}
	r.mu.Lock()
	if r.attempts[vk] != a || r.ctx.Err() != nil {
		r.mu.Unlock()
		if first {
			close(a.done)
		}
		return
	}
	wasOK := a.finished && a.err == nil
	a.mod, a.err, a.finished = mod, err, true
	a.retrying = false
	if err != nil {
		a.failures++
		if retryableReason(ReasonOf(err)) || (ReasonOf(err) == ReasonStart && isTimeout(err) && a.failures <= maxStartRetries) {
			a.retrying = true
			delay := r.opts.RetryBase << min(a.failures-1, 20)
			if delay > r.opts.RetryMax || delay <= 0 {
				delay = r.opts.RetryMax
			}
			r.log.Info("will fetch the Wasm module again", "resource", vk.key.String(), "url", a.req.URL, "in", delay)
			time.AfterFunc(delay, func() { r.fetch(a, vk, false) })
		}
	}
	changed := !first && (err == nil) != wasOK
	r.mu.Unlock()
	if first {
		close(a.done)
		changed = true // Prepare may have stopped waiting; a redundant recompute is harmless
	}
	if changed {
		select {
		case r.change <- struct{}{}:
		default:
		}
	}
}

// checkStart runs the StartChecker on a fetched module with the extension's configuration.
func (r *Resolver) checkStart(a *attempt, mod Module) error {
	if r.opts.StartChecker == nil {
		return nil
	}
	msg, _ := translate.Message(a.ext, fixedModule(mod))
	if msg == nil || msg.Wasm == nil {
		return nil
	}
	err := r.opts.StartChecker.CheckStart(r.ctx, msg)
	if err == nil || r.ctx.Err() != nil {
		return nil // a check cut short by Close decides nothing; the attempt is dropped
	}
	r.log.Warn("the Wasm module does not start", "resource", a.ext.Key.String(), "url", a.req.URL, "sha256", mod.SHA256, "error", err)
	return &Error{URL: a.req.URL, Reason: ReasonStart, Err: err}
}

// fixedModule resolves every extension to one fetched module (to build its ECDS message).
type fixedModule Module

func (m fixedModule) Resolve(*model.Extension) (string, string, error) { return m.Path, m.SHA256, nil }

// retryableReason: failures that a later attempt would meet again without a change of the
// resource (a bad URL, a missing secret, a module that does not start, except by timeout;
// see isTimeout) are not retried in the background.
func retryableReason(r Reason) bool {
	switch r {
	case ReasonURL, ReasonSecret, ReasonStart:
		return false
	}
	return true
}

// isTimeout: a start check cut off by its bound (the error has Timeout() true) may have met a
// busy host rather than a loop, so it is retried like a transient fetch failure, but only
// maxStartRetries times: each check of a loop burns the whole bound of CPU.
const maxStartRetries = 3

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

func request(e *model.Extension, w *v1alpha1.WasmConfig, secrets SecretLookup) Request {
	req := Request{
		URL:             w.GetUrl(),
		SHA256:          w.GetSha256(),
		Resource:        e.Key.String(),
		ResourceVersion: e.ResourceVersion,
		PullSecretName:  w.GetImagePullSecret(),
	}
	switch w.GetImagePullPolicy() {
	case v1alpha1.PullPolicy_IfNotPresent:
		req.PullPolicy = PullIfNotPresent
	case v1alpha1.PullPolicy_Always:
		req.PullPolicy = PullAlways
	}
	if name := w.GetImagePullSecret(); name != "" && secrets != nil {
		if data, ok := secrets(e.Namespace, name); ok {
			req.PullSecret = data
		}
	}
	if req.PullSecretName != "" && req.PullSecret == nil {
		req.PullSecretName = fmt.Sprintf("%s/%s (a Secret of type kubernetes.io/dockerconfigjson in the extension's namespace)", e.Namespace, w.GetImagePullSecret())
	}
	return req
}
