package fetch

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// Defaults (Istio's where Istio has one).
const (
	DefaultMaxModuleBytes = 256 << 20 // ISTIO_WASM_MAX_BINARY_SIZE_BYTES
	DefaultMaxCacheBytes  = 1 << 30
	DefaultTimeout        = 30 * time.Second // istiod's http_uri.timeout
	DefaultRequestTimeout = 15 * time.Second // WASM_HTTP_REQUEST_TIMEOUT
	DefaultAttempts       = 5                // WASM_HTTP_REQUEST_MAX_RETRIES
	DefaultBackoff        = 500 * time.Millisecond
)

// Options configure a Fetcher. The zero value gives the defaults.
type Options struct {
	// CacheDir holds the module cache; "" means DefaultCacheDir().
	CacheDir string
	// MaxCacheBytes bounds the bytes of modules in the cache; 0 means DefaultMaxCacheBytes.
	MaxCacheBytes int64
	// MaxModuleBytes bounds one module (and every download read); 0 means DefaultMaxModuleBytes.
	MaxModuleBytes int64
	// Timeout bounds one fetch, retries included; 0 means DefaultTimeout.
	Timeout time.Duration
	// RequestTimeout bounds one HTTP exchange (response headers for OCI); 0 means
	// DefaultRequestTimeout.
	RequestTimeout time.Duration
	// Attempts is how many times a transient failure (transport error, 5xx other than 501,
	// 505 and 511, 429) is tried; 0 means DefaultAttempts, 1 means no retry.
	Attempts int
	// Backoff is the first delay between attempts, doubled after each; 0 means DefaultBackoff.
	Backoff time.Duration
	// RootCAs are the CAs trusted for https registries and servers; nil means the system pool.
	RootCAs *x509.CertPool
	// InsecureRegistries are hosts (host or host:port; "*" for all) whose TLS certificate is
	// not verified, as Istio's WASM_INSECURE_REGISTRIES.
	InsecureRegistries []string
	// Logger receives pull progress and outcomes; nil discards them.
	Logger *slog.Logger
}

// DefaultCacheDir is os.UserCacheDir()/trafficext/modules (or the temp dir when there is no
// user cache directory).
func DefaultCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "trafficext", "modules")
}

func (o Options) withDefaults() Options {
	if o.CacheDir == "" {
		o.CacheDir = DefaultCacheDir()
	}
	o.MaxCacheBytes = positiveOr(o.MaxCacheBytes, DefaultMaxCacheBytes)
	o.MaxModuleBytes = positiveOr(o.MaxModuleBytes, DefaultMaxModuleBytes)
	o.Timeout = positiveOr(o.Timeout, DefaultTimeout)
	o.RequestTimeout = positiveOr(o.RequestTimeout, DefaultRequestTimeout)
	o.Attempts = positiveOr(o.Attempts, DefaultAttempts)
	o.Backoff = positiveOr(o.Backoff, DefaultBackoff)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// positiveOr is v, or d when v is not positive (zero and negative values mean "default").
func positiveOr[T int | int64 | time.Duration](v, d T) T {
	if v <= 0 {
		return d
	}
	return v
}

func (o Options) insecure(host string) bool {
	for _, h := range o.InsecureRegistries {
		if h == "*" || h == host {
			return true
		}
	}
	return false
}

func (o Options) tlsConfig(host string) *tls.Config {
	return &tls.Config{RootCAs: o.RootCAs, InsecureSkipVerify: o.insecure(host), MinVersion: tls.VersionTLS12} //nolint:gosec // opt-in per host
}
