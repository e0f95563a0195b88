package driver

import (
	"context"
	"net"
)

// TCPEnv is implemented by an Env that also runs raw-TCP proxies (listeners with a TCP proxy
// instead of the HTTP connection manager, proxyid TRAFFICEXT_PROTOCOL=tcp) of the three
// shapes, in front of raw TCP echo workloads that send back every byte they receive. They
// share the topology's namespaces, labels and gateway names, so an extension attaches to the
// TCP proxy of a shape exactly as to its HTTP one. A driver may start them on first use.
type TCPEnv interface {
	// TCP returns the raw-TCP proxy of a shape: "gateway", "sidecar" (outbound → inbound →
	// echo) or "waypoint" (HBONE to ServiceA → its internal listener → echo).
	TCP(ctx context.Context, shape string) (TCPProxy, error)
}

// TCPProxy is one raw-TCP Envoy under test.
type TCPProxy interface {
	Name() string
	// DialTCP opens a connection through the proxy to its echo workload.
	DialTCP(ctx context.Context) (net.Conn, error)
	Stat(name string) (int64, error)
	ConfigDump() (string, error)
	Log() string
}
