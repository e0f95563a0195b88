package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// PullPolicy is spec.wasm.imagePullPolicy.
type PullPolicy int

// Pull policies.
const (
	// PullUnspecified behaves as PullIfNotPresent, except for an OCI URL tagged latest
	// (explicitly or by default), which behaves as PullAlways.
	PullUnspecified PullPolicy = iota
	// PullIfNotPresent pulls a tagged URL once and reuses the module from then on.
	PullIfNotPresent
	// PullAlways pulls a tagged URL again whenever the requesting resource's version changes.
	PullAlways
)

func (p PullPolicy) String() string {
	switch p {
	case PullIfNotPresent:
		return "IfNotPresent"
	case PullAlways:
		return "Always"
	}
	return "unspecified"
}

// Request asks for one module.
type Request struct {
	// URL is spec.wasm.url.
	URL string
	// SHA256 is spec.wasm.sha256 (lower-case hex): for OCI the image manifest digest, for HTTP
	// and file the sha256 of the module bytes. "" means unchecked (a digest in an OCI URL is
	// still checked).
	SHA256 string
	// PullPolicy is spec.wasm.imagePullPolicy.
	PullPolicy PullPolicy
	// Resource names the requester (namespace/name) and ResourceVersion its version; under
	// PullAlways a tagged URL is pulled again when the version differs from the one that
	// pulled it last.
	Resource, ResourceVersion string
	// PullSecret is docker config JSON (a kubernetes.io/dockerconfigjson Secret's
	// .dockerconfigjson) used as the keychain for OCI; nil means the control plane's own
	// docker config (DOCKER_CONFIG, ~/.docker/config.json), as Istio without a secret.
	PullSecret []byte
	// PullSecretName is spec.wasm.imagePullSecret (for messages). When it is set and
	// PullSecret is nil the secret was not found and the fetch fails at once, as Istio's
	// "missing image pulling secret".
	PullSecretName string
}

// Module is a fetched, verified module.
type Module struct {
	// Path is the module file in the cache; it never changes content.
	Path string
	// SHA256 is the hex sha256 of the module bytes (what the proxy verifies).
	SHA256 string
	// Checksum is Istio's checksum: the image manifest digest (hex) for OCI, SHA256 otherwise.
	Checksum string
	// CacheHit is true when no module bytes were downloaded.
	CacheHit bool
}

// Fetcher fetches modules into its cache. It is safe for concurrent use.
type Fetcher struct {
	opts  Options
	log   *slog.Logger
	m     *counters
	cache *cache
	group flightGroup
}

// New opens (creating if needed) the cache directory and returns a Fetcher.
func New(opts Options) (*Fetcher, error) {
	opts = opts.withDefaults()
	m := newCounters()
	c, err := openCache(opts.CacheDir, opts.MaxCacheBytes, opts.Logger, m)
	if err != nil {
		return nil, err
	}
	return &Fetcher{opts: opts, log: opts.Logger, m: m, cache: c}, nil
}

// Metrics returns the counters and the cache size.
func (f *Fetcher) Metrics() Metrics { return f.m.snapshot() }

// CacheDir is where modules are stored.
func (f *Fetcher) CacheDir() string { return f.opts.CacheDir }

// SetInUse tells the cache which modules (by SHA256) are being served; eviction removes other
// modules first and never makes room by evicting one of these.
func (f *Fetcher) SetInUse(sums []string) { f.cache.setInUse(sums) }

// Fetch returns the module req names, from the cache when policy and checksums allow it,
// otherwise downloading it (concurrent requests for the same module share one download).
// Errors are *Error.
func (f *Fetcher) Fetch(ctx context.Context, req Request) (Module, error) {
	start := time.Now()
	mod, err := f.fetch(ctx, req)
	if err != nil {
		f.m.fail(ReasonOf(err))
		f.log.Error("Wasm module fetch failed", "resource", req.Resource, "url", req.URL, "error", err)
		return Module{}, err
	}
	f.m.success.Add(1)
	if mod.CacheHit {
		f.m.hits.Add(1)
	}
	f.log.Info("Wasm module ready", "resource", req.Resource, "url", req.URL, "sha256", mod.SHA256,
		"checksum", mod.Checksum, "cacheHit", mod.CacheHit, "path", mod.Path, "took", time.Since(start).Round(time.Millisecond))
	return mod, nil
}

func (f *Fetcher) fetch(ctx context.Context, req Request) (Module, error) {
	loc, err := parseLocation(req.URL)
	if err != nil {
		return Module{}, &Error{URL: req.URL, Reason: ReasonURL, Err: err}
	}
	fail := func(r Reason, err error) error {
		return &Error{URL: req.URL, Registry: loc.registry, Reason: r, Err: err}
	}
	want := strings.ToLower(req.SHA256)
	if loc.digest != "" {
		if want != "" && want != loc.digest {
			return Module{}, fail(ReasonChecksum, fmt.Errorf("spec.wasm.sha256 %s differs from the digest in the URL %s", want, loc.digest))
		}
		want = loc.digest
	}
	if loc.scheme == SchemeFile {
		return f.fetchFile(loc, want, fail)
	}
	if req.PullSecretName != "" && req.PullSecret == nil {
		return Module{}, fail(ReasonSecret, fmt.Errorf("missing image pull secret %q", req.PullSecretName))
	}
	if want != "" {
		if path, sum, ok := f.cache.lookup(loc.moduleName, want); ok {
			return Module{Path: path, SHA256: sum, Checksum: want, CacheHit: true}, nil
		}
	} else if sum, versions, ok := f.cache.tag(req.URL); ok && (ignoresVersion(loc, req.PullPolicy) || versions[req.Resource] == req.ResourceVersion) {
		if path, msum, ok := f.cache.lookup(loc.moduleName, sum); ok {
			f.cache.recordTag(req.URL, sum, req.Resource, req.ResourceVersion)
			return Module{Path: path, SHA256: msum, Checksum: sum, CacheHit: true}, nil
		}
	}
	sh := sha256.Sum256(req.PullSecret)
	flightKey := req.URL + "|" + want + "|" + hex.EncodeToString(sh[:8])
	mod, err := f.group.do(flightKey, func() (Module, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.opts.Timeout)
		defer cancel()
		if loc.scheme == SchemeOCI {
			return f.pullOCI(fctx, loc, want, req.PullSecret, fail)
		}
		return f.pullHTTP(fctx, loc, want, fail)
	})
	if err != nil {
		return Module{}, err
	}
	if loc.digest == "" {
		f.cache.recordTag(req.URL, mod.Checksum, req.Resource, req.ResourceVersion)
	}
	return mod, nil
}

// ignoresVersion is Istio's shouldIgnoreResourceVersion: whether a module already pulled for a
// tagged URL serves every resource version.
func ignoresVersion(loc *location, p PullPolicy) bool {
	switch p {
	case PullIfNotPresent:
		return true
	case PullAlways:
		return false
	}
	return !(loc.scheme == SchemeOCI && loc.latest)
}

// fetchFile reads a local module and copies it into the cache.
func (f *Fetcher) fetchFile(loc *location, want string, fail func(Reason, error) error) (Module, error) {
	st, err := os.Stat(loc.path)
	if err != nil {
		return Module{}, fail(ReasonNotFound, err)
	}
	if st.Size() > f.opts.MaxModuleBytes {
		return Module{}, fail(ReasonTooLarge, fmt.Errorf("%d bytes, over the limit of %d", st.Size(), f.opts.MaxModuleBytes))
	}
	data, err := os.ReadFile(loc.path)
	if err != nil {
		return Module{}, fail(ReasonNotFound, err)
	}
	return f.finish(loc, want, "", data, fail)
}

// finish checks downloaded bytes and stores them. checksum is the OCI manifest digest ("" for
// HTTP and file, where the checksum is the module's sha256).
func (f *Fetcher) finish(loc *location, want, checksum string, data []byte, fail func(Reason, error) error) (Module, error) {
	if int64(len(data)) > f.opts.MaxModuleBytes {
		return Module{}, fail(ReasonTooLarge, fmt.Errorf("module of %d bytes, over the limit of %d", len(data), f.opts.MaxModuleBytes))
	}
	if checksum == "" {
		s := sha256.Sum256(data)
		checksum = hex.EncodeToString(s[:])
		if want != "" && want != checksum {
			return Module{}, fail(ReasonChecksum, fmt.Errorf("the module downloaded has sha256 %s, spec.wasm.sha256 wants %s", checksum, want))
		}
	}
	if !isWasm(data) {
		return Module{}, fail(ReasonInvalid, fmt.Errorf("the fetched bytes (%d) are not a Wasm binary (no \\0asm header)", len(data)))
	}
	path, sum, err := f.cache.store(loc.moduleName, checksum, data)
	if err != nil {
		if strings.Contains(err.Error(), "cache bound") {
			return Module{}, fail(ReasonTooLarge, err)
		}
		return Module{}, fail(ReasonCache, err)
	}
	return Module{Path: path, SHA256: sum, Checksum: checksum}, nil
}

func isWasm(b []byte) bool { return len(b) >= 8 && string(b[:4]) == "\x00asm" }

// transport is the HTTP transport for one host: custom CAs, per-host TLS skip-verify, a
// response-header timeout.
func (f *Fetcher) transport(host string) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = f.opts.tlsConfig(host)
	t.ResponseHeaderTimeout = f.opts.RequestTimeout
	return t
}

// retry runs op until it succeeds, fails permanently, or Attempts is reached, waiting Backoff,
// then twice as long, between attempts.
func (f *Fetcher) retry(ctx context.Context, loc *location, op func(context.Context) error) error {
	delay := f.opts.Backoff
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil || !retryable(err) || attempt >= f.opts.Attempts || ctx.Err() != nil {
			return err
		}
		f.log.Warn("Wasm module download failed; retrying", "url", loc.raw, "attempt", attempt, "of", f.opts.Attempts, "in", delay, "error", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		delay *= 2
	}
}

// statusError is a non-200 HTTP answer.
type statusError struct {
	code int
	url  string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("GET %s: %d %s", e.url, e.code, http.StatusText(e.code))
}

// retryableStatus is Istio's rule: 5xx except 501, 505 and 511; plus 408 and 429.
func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests:
		return true
	case http.StatusNotImplemented, http.StatusHTTPVersionNotSupported, http.StatusNetworkAuthenticationRequired:
		return false
	}
	return code >= 500
}

func statusOf(err error) int {
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode
	}
	var se *statusError
	if errors.As(err, &se) {
		return se.code
	}
	return 0
}

func retryable(err error) bool {
	if code := statusOf(err); code != 0 {
		return retryableStatus(code)
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}

// classify gives the reason of a download error.
func classify(err error) Reason {
	switch code := statusOf(err); {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return ReasonAuth
	case code == http.StatusNotFound:
		return ReasonNotFound
	case code != 0:
		return ReasonDownload
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, context.DeadlineExceeded) {
		return ReasonUnreachable
	}
	return ReasonDownload
}

// flightGroup runs one function per key at a time; callers with the same key share its result.
type flightGroup struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	done chan struct{}
	mod  Module
	err  error
}

func (g *flightGroup) do(key string, fn func() (Module, error)) (Module, error) {
	g.mu.Lock()
	if g.m == nil {
		g.m = map[string]*flight{}
	}
	if fl, ok := g.m[key]; ok {
		g.mu.Unlock()
		<-fl.done
		return fl.mod, fl.err
	}
	fl := &flight{done: make(chan struct{})}
	g.m[key] = fl
	g.mu.Unlock()
	fl.mod, fl.err = fn()
	g.mu.Lock()
	delete(g.m, key)
	g.mu.Unlock()
	close(fl.done)
	return fl.mod, fl.err
}
