package local

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/trafficext/trafficext/conformance/driver"
	"github.com/trafficext/trafficext/conformance/driver/hbone"
	"github.com/trafficext/trafficext/internal/envoyproc"
	"github.com/trafficext/trafficext/xds/proxyid"
	"github.com/trafficext/trafficext/xds/translate"
)

// The raw-TCP proxies (driver.TCPEnv), started on first use so that specs without them pay
// nothing: one Envoy per shape with TRAFFICEXT_PROTOCOL=tcp, in front of a raw TCP echo.

var _ driver.TCPEnv = (*env)(nil)

// tcpProxies are the started raw-TCP proxies and their echoes; mu guards them.
type tcpProxies struct {
	mu      sync.Mutex
	proxies map[string]*tcpProxy
	echoes  []net.Listener
	logw    io.Writer
	xds     string
}

type tcpProxy struct {
	name string
	p    *envoyproc.Process
	dial func(ctx context.Context) (net.Conn, error)
}

func (t *tcpProxy) Name() string                                  { return t.name }
func (t *tcpProxy) DialTCP(ctx context.Context) (net.Conn, error) { return t.dial(ctx) }
func (t *tcpProxy) Stat(name string) (int64, error)               { return t.p.Stat(name) }
func (t *tcpProxy) ConfigDump() (string, error)                   { return t.p.Admin("/config_dump") }
func (t *tcpProxy) Log() string                                   { return t.p.Log() }

// startTCPEcho is a raw echo: every byte back, then its half-close at the client's.
func (tp *tcpProxies) startTCPEcho() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	tp.echoes = append(tp.echoes, ln)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
				if tc, ok := c.(*net.TCPConn); ok {
					tc.CloseWrite()
				}
			}()
		}
	}()
	return ln.Addr().String(), nil
}

func (e *env) TCP(ctx context.Context, shape string) (driver.TCPProxy, error) {
	tp := &e.tcp
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if p := tp.proxies[shape]; p != nil {
		return p, nil
	}
	if tp.proxies == nil {
		tp.proxies = map[string]*tcpProxy{}
	}
	echo, err := tp.startTCPEcho()
	if err != nil {
		return nil, err
	}
	var id proxyid.Identity
	var dial func(ctx context.Context) (net.Conn, error)
	direct := func(addr string) func(context.Context) (net.Conn, error) {
		return func(ctx context.Context) (net.Conn, error) {
			return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", addr)
		}
	}
	switch shape {
	case "gateway":
		id = e.gwID
		id.ID, id.Cluster, id.Upstream = "tcp-"+id.ID, "tcp-"+id.Cluster, echo
		if id.Listen, err = freeAddr(); err != nil {
			return nil, err
		}
		dial = direct(id.Listen)
	case "sidecar":
		id = e.sidecar.id
		id.ID, id.Cluster, id.Upstream = "tcp-"+id.ID, "tcp-"+id.Cluster, echo
		if id.Listen, err = freeAddr(); err != nil {
			return nil, err
		}
		if id.InboundListen, err = freeAddr(); err != nil {
			return nil, err
		}
		dial = direct(id.Listen)
	case "waypoint":
		svc := driver.AppNamespace + "/" + driver.ServiceA
		id = e.waypoint.id
		id.ID, id.Cluster = "tcp-"+id.ID, "tcp-"+id.Cluster
		id.Services, id.Endpoints = []string{svc}, map[string]string{svc: echo}
		if id.Listen, err = freeAddr(); err != nil {
			return nil, err
		}
		d := hbone.Dialer{Addr: id.Listen, TLS: e.waypoint.dialer.TLS}
		s := &hbone.Service{Dialer: d, Host: translate.ServiceHost(svc)}
		dial = s.Dial
	default:
		return nil, fmt.Errorf("raw-TCP proxy: unknown shape %q (want gateway, sidecar or waypoint)", shape)
	}
	id.Protocol = proxyid.ProtocolTCP
	p, err := startEnvoy(ctx, id, tp.xds, tp.logw)
	if err != nil {
		return nil, err
	}
	t := &tcpProxy{name: id.ID, p: p, dial: dial}
	tp.proxies[shape] = t
	if err := waitTCP(ctx, t); err != nil {
		return nil, fmt.Errorf("raw-TCP %s never echoed: %w\n%s", shape, err, p.Log())
	}
	return t, nil
}

// waitTCP waits until a byte makes the round trip through the proxy.
func waitTCP(ctx context.Context, t *tcpProxy) error {
	var last error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		c, err := t.DialTCP(ctx)
		if err != nil {
			last = err
			continue
		}
		c.SetDeadline(time.Now().Add(2 * time.Second))
		_, err = c.Write([]byte("."))
		b := make([]byte, 1)
		if err == nil {
			_, err = io.ReadFull(c, b)
		}
		c.Close()
		if err == nil && b[0] == '.' {
			return nil
		}
		last = err
	}
	return last
}

// adminGetters are the started raw-TCP proxies, for Reset.
func (tp *tcpProxies) adminGetters() []driver.AdminGetter {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	var out []driver.AdminGetter
	for _, t := range tp.proxies {
		out = append(out, driver.AdminGetter{Name: t.name, Admin: t.p.Admin, Busy: func() bool { return draining(t.p) }})
	}
	return out
}

func (tp *tcpProxies) close() {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	for _, t := range tp.proxies {
		t.p.Stop()
	}
	for _, l := range tp.echoes {
		l.Close()
	}
	tp.proxies, tp.echoes = nil, nil
}
