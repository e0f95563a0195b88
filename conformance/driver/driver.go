// Package driver is the boundary between the conformance specs and the environment they run
// in. A Driver starts an Env: real Envoy proxies fed by the trafficext control plane, an echo
// workload behind them, and a way to apply TrafficExtension resources. The `local` driver runs
// everything as processes on loopback; a `kind` driver runs the same specs on a cluster.
package driver

import (
	"context"
	"net/http"
)

// Driver starts environments.
type Driver interface {
	Start(ctx context.Context) (Env, error)
}

// Env is one running environment.
type Env interface {
	// Apply creates or replaces the resource file name (YAML, possibly several documents).
	Apply(name string, yaml []byte) error
	// Delete removes the resource file name.
	Delete(name string) error
	// Reset removes every resource applied so far.
	Reset() error
	// Gateway is the ingress gateway proxy.
	Gateway() Proxy
	// Problems are the control plane's current complaints about resources (validation errors),
	// each naming file, resource and field.
	Problems() []string
	Close() error
}

// Proxy is one Envoy under test.
type Proxy interface {
	// URL is the base URL of the proxy's HTTP listener ("http://127.0.0.1:port").
	URL() string
	// Client sends requests to the proxy (no connection reuse unless the caller keeps one).
	Client() *http.Client
	// Stat reads an Envoy stat (0 when absent).
	Stat(name string) (int64, error)
	// Alive reports whether the proxy process is running.
	Alive() bool
	// Log is the tail of the proxy's log.
	Log() string
}
