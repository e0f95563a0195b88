// Package driver is the boundary between the conformance specs and the environment they run
// in. A Driver starts an Env: real Envoy proxies of the three shapes Istio has (an ingress
// gateway, sidecars with inbound and outbound listeners, an ambient waypoint reached over
// HBONE) fed by the trafficext control plane, echo workloads behind them, and a way to apply
// TrafficExtension resources. The `local` driver runs everything as processes on loopback;
// the `kind` driver runs the same catalogue on a kind cluster.
//
// Every driver builds the same topology (the constants below), so a spec can name namespaces,
// labels, gateways and services without asking the driver.
package driver

import (
	"context"
	"net"
	"net/http"
)

// The topology every driver provides.
const (
	// RootNamespace is the config root namespace; the ingress gateway runs there.
	RootNamespace = "istio-system"
	// AppNamespace holds the sidecar workload (app=echo), the waypoint and its services.
	AppNamespace = "apps"
	// OtherNamespace holds a second sidecar workload with the same labels as the first.
	OtherNamespace = "other"
	// GatewayName is the ingress gateway's Gateway (targetRefs kind Gateway).
	GatewayName = "ingressgateway"
	// WaypointName is the waypoint's Gateway (class istio-waypoint) in AppNamespace.
	WaypointName = "waypoint"
	// WaypointClass is the GatewayClass of waypoints.
	WaypointClass = "istio-waypoint"
	// ServiceA and ServiceB are the services (in AppNamespace) bound to the waypoint.
	ServiceA = "echo-a"
	ServiceB = "echo-b"
	// ServiceEntryC is a ServiceEntry (in AppNamespace) bound to the waypoint, on drivers whose
	// Waypoint.Services lists it: targetRefs of kind ServiceEntry reach it, kind Service not.
	ServiceEntryC = "echo-se"
	// SidecarServicePort is the service port of the sidecar workload's service (outbound match
	// ports compare with it); the target port is the driver's (Sidecar.TargetPort).
	SidecarServicePort = 8080
	// PanicHeader is the fault-injection request header every proxy of a conformance
	// environment honours (TRAFFICEXT_FAULT_INJECTION=panic-header=<it>): its value names the
	// extension ("<namespace>.<name>") that must panic.
	PanicHeader = "x-trafficext-panic"
)

// Workload labels by mode.
var (
	GatewayLabels  = map[string]string{"istio": "ingressgateway", "app": "istio-ingressgateway"}
	SidecarLabels  = map[string]string{"app": "echo", "version": "v1"}
	WaypointLabels = map[string]string{"gateway.networking.k8s.io/gateway-name": WaypointName, "istio.io/gateway-name": WaypointName}
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
	// Gateway is the ingress gateway proxy (RootNamespace, GatewayLabels, GatewayName).
	Gateway() Proxy
	// Sidecar is the sidecar of the workload app=echo in AppNamespace.
	Sidecar() Sidecar
	// OtherSidecar is the sidecar of the workload app=echo in OtherNamespace.
	OtherSidecar() Sidecar
	// Waypoint is the waypoint of AppNamespace serving ServiceA and ServiceB.
	Waypoint() Waypoint
	// Problems are the control plane's current complaints about resources (validation errors),
	// each naming file, resource and field.
	Problems() []string
	Close() error
}

// Target is where a spec sends HTTP requests: a proxy's listener, or a service reached
// through a waypoint.
type Target interface {
	// URL is the base URL requests use ("http://127.0.0.1:port", "http://echo-a.apps.svc.cluster.local").
	URL() string
	// Client sends requests to the target (a new connection per request).
	Client() *http.Client
	// Dial opens one connection to the target that the caller speaks HTTP/1.1 on (for specs
	// that keep a connection alive across requests).
	Dial(ctx context.Context) (net.Conn, error)
}

// Proxy is one Envoy under test. Its Target is its main listener: the gateway listener, a
// sidecar's outbound listener (client → outbound → inbound → workload), a waypoint's first
// service (ServiceA) over HBONE.
type Proxy interface {
	Target
	// Name is the proxy's xDS node id.
	Name() string
	// Stat reads an Envoy stat (0 when absent).
	Stat(name string) (int64, error)
	// ConfigDump is Envoy's admin /config_dump (JSON).
	ConfigDump() (string, error)
	// Alive reports whether the proxy process is running.
	Alive() bool
	// Log is the tail of the proxy's log.
	Log() string
}

// Sidecar is a sidecar proxy: an outbound listener (CLIENT side) in front of an inbound
// listener (SERVER side) in front of the workload.
type Sidecar interface {
	Proxy
	// Namespace and Labels are the workload's.
	Namespace() string
	Labels() map[string]string
	// ServicePort is the port outbound match ports compare with; TargetPort the workload's
	// port, which inbound match ports compare with.
	ServicePort() uint32
	TargetPort() uint32
	// Inbound is the inbound listener alone, as a peer's traffic arrives.
	Inbound() Target
}

// Waypoint is an ambient waypoint: HBONE (HTTP/2 CONNECT over mTLS) in, one HTTP chain per
// bound service.
type Waypoint interface {
	Proxy
	// Services are the bound services as "<namespace>/<name>".
	Services() []string
	// Service addresses one bound service (name in AppNamespace) through the waypoint.
	Service(name string) Target
}
