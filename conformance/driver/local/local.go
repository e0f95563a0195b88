// Package local is the conformance driver that runs everything on this machine: the
// trafficext control plane in-process on an ephemeral port, the echo workloads, and real Envoy
// processes (the binary from ENVOY_BIN or .venv, our dynamic module from out/) shaped like
// Istio's proxies, all on loopback:
//
//   - the ingress gateway (istio-system, gateway listener → workload "workload");
//   - two sidecars with the labels app=echo, one in namespace apps and one in other
//     (outbound listener → inbound listener → workload "echo" / "echo-other");
//   - the waypoint of namespace apps (HBONE on mTLS + CONNECT → one internal listener per
//     service → workloads "echo-a" and "echo-b"), reached through an in-process HBONE client
//     tunnel with a throw-away CA.
//
// Every proxy announces its shape in its node metadata (package proxyid) and gets its
// listeners from the same control plane.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/trafficext/trafficext/conformance/driver"
	"github.com/trafficext/trafficext/conformance/driver/hbone"
	"github.com/trafficext/trafficext/internal/echo"
	"github.com/trafficext/trafficext/internal/envoyproc"
	"github.com/trafficext/trafficext/internal/loopback"
	"github.com/trafficext/trafficext/xds"
	"github.com/trafficext/trafficext/xds/proxyid"
	"github.com/trafficext/trafficext/xds/translate"
)

// PanicHeader is the request header the proxies accept for fault injection: its value names
// the extension that must panic.
const PanicHeader = driver.PanicHeader

// Driver is the local driver.
type Driver struct {
	// Log receives control-plane and Envoy output; nil discards it (the tails stay readable).
	Log io.Writer
	// Binding is the filter that hosts trafficext in the proxies ("" = dynamic modules). With
	// translate.Golang, GolangLibrary is the golang-filter library and GolangHost serves it
	// through the golang host module (Envoy without the contrib golang filter).
	Binding       translate.Binding
	GolangLibrary string
	GolangHost    bool
}

var _ driver.Driver = Driver{}

// Start brings up the control plane, the echo workloads and the four proxies.
func (d Driver) Start(ctx context.Context) (driver.Env, error) {
	e := &env{}
	if err := e.start(ctx, d); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

type env struct {
	dir, pkiDir string
	cancel      context.CancelFunc
	cpDone      chan error
	cp          *xds.ControlPlane
	echos       []*echo.Server
	gateway     *proxy
	sidecar     *sidecar
	other       *sidecar
	waypoint    *waypoint
	gwID        proxyid.Identity
	// tcp are the raw-TCP proxies, started on first use (tcp.go).
	tcp tcpProxies
}

func freePort() (int, error) { return loopback.FreePort() }

func freeAddr() (string, error) {
	p, err := freePort()
	return fmt.Sprintf("127.0.0.1:%d", p), err
}

func (e *env) startEcho(name string) (*echo.Server, error) {
	s, err := echo.Start("127.0.0.1:0", name)
	if err != nil {
		return nil, fmt.Errorf("starting echo %s: %w", name, err)
	}
	e.echos = append(e.echos, s)
	return s, nil
}

func (e *env) start(ctx context.Context, d Driver) error {
	logw := d.Log
	if logw == nil {
		logw = io.Discard
	}
	var err error
	if e.dir, err = os.MkdirTemp("", "trafficext-conformance-"); err != nil {
		return err
	}
	if e.pkiDir, err = os.MkdirTemp("", "trafficext-pki-"); err != nil {
		return err
	}
	up := map[string]*echo.Server{}
	for _, n := range []string{"workload", "echo", "echo-other", driver.ServiceA, driver.ServiceB, driver.ServiceEntryC} {
		if up[n], err = e.startEcho(n); err != nil {
			return err
		}
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.cp, err = xds.New(xds.Options{
		Dir:     e.dir,
		Address: lis.Addr().String(),
		// Four Envoys share this host's network namespace: one callout gateway socket each.
		Translate: translate.Options{Upstream: up["workload"].Addr(), CalloutGateway: translate.PerProxyCalloutGateway,
			Binding: d.Binding, GolangLibraryPath: d.GolangLibrary, GolangHost: d.GolangHost},
		Logger: log,
	})
	if err != nil {
		lis.Close()
		return err
	}
	cctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.cpDone = make(chan error, 1)
	go func() { e.cpDone <- e.cp.Serve(cctx, lis) }()
	select {
	case <-e.cp.Ready():
	case err := <-e.cpDone:
		return fmt.Errorf("control plane: %w", err)
	case <-time.After(10 * time.Second):
		return fmt.Errorf("control plane not ready")
	}
	xdsAddr := lis.Addr().String()
	e.tcp.logw, e.tcp.xds = logw, xdsAddr

	wpHost := driver.WaypointName + "." + driver.AppNamespace + ".svc." + translate.ClusterDomain
	pki, err := hbone.NewPKI(e.pkiDir, wpHost)
	if err != nil {
		return fmt.Errorf("minting the test PKI: %w", err)
	}
	clientTLS, err := pki.ClientTLS()
	if err != nil {
		return err
	}

	// Identities, with their listen addresses.
	gw := proxyid.Identity{
		ID: "ingressgateway.istio-system", Cluster: "istio-ingressgateway", Mode: proxyid.Gateway,
		Namespace: driver.RootNamespace, GatewayName: driver.GatewayName, Labels: driver.GatewayLabels,
		Upstream: up["workload"].Addr(),
	}
	if gw.Listen, err = freeAddr(); err != nil {
		return err
	}
	e.gwID = gw
	sc := func(ns, workload string) (proxyid.Identity, error) {
		id := proxyid.Identity{
			ID: "echo." + ns, Cluster: "echo." + ns, Mode: proxyid.Sidecar, Namespace: ns,
			Labels: driver.SidecarLabels, ServicePort: driver.SidecarServicePort, Upstream: up[workload].Addr(),
		}
		var err error
		if id.Listen, err = freeAddr(); err != nil {
			return id, err
		}
		id.InboundListen, err = freeAddr()
		return id, err
	}
	scA, err := sc(driver.AppNamespace, "echo")
	if err != nil {
		return err
	}
	scB, err := sc(driver.OtherNamespace, "echo-other")
	if err != nil {
		return err
	}
	svcA := driver.AppNamespace + "/" + driver.ServiceA
	svcB := driver.AppNamespace + "/" + driver.ServiceB
	seC := driver.AppNamespace + "/" + driver.ServiceEntryC
	wp := proxyid.Identity{
		ID: "waypoint.apps", Cluster: "waypoint.apps", Mode: proxyid.Waypoint, Namespace: driver.AppNamespace,
		GatewayName: driver.WaypointName, Labels: driver.WaypointLabels,
		Services: []string{svcA, svcB, seC}, ServiceEntries: []string{seC},
		Endpoints: map[string]string{svcA: up[driver.ServiceA].Addr(), svcB: up[driver.ServiceB].Addr(), seC: up[driver.ServiceEntryC].Addr()},
		TLSCert:   pki.Path(hbone.ServerCertFile), TLSKey: pki.Path(hbone.ServerKeyFile), TLSCA: pki.Path(hbone.CAFile),
	}
	if wp.Listen, err = freeAddr(); err != nil {
		return err
	}

	// Start the four Envoys concurrently.
	ids := []proxyid.Identity{gw, scA, scB, wp}
	procs := make([]*envoyproc.Process, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			procs[i], errs[i] = startEnvoy(ctx, id, xdsAddr, logw)
		}()
	}
	wg.Wait()
	e.gateway = &proxy{name: gw.ID, p: procs[0], url: "http://" + gw.Listen, addr: gw.Listen}
	e.sidecar = &sidecar{proxy: proxy{name: scA.ID, p: procs[1], url: "http://" + scA.Listen, addr: scA.Listen}, id: scA}
	e.other = &sidecar{proxy: proxy{name: scB.ID, p: procs[2], url: "http://" + scB.Listen, addr: scB.Listen}, id: scB}
	e.waypoint = &waypoint{proxy: proxy{name: wp.ID, p: procs[3]}, id: wp, dialer: hbone.Dialer{Addr: wp.Listen, TLS: clientTLS}}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Each listener exists once LDS and its (possibly empty) ECDS set arrived.
	for _, t := range []struct {
		name string
		t    driver.Target
		p    *envoyproc.Process
	}{
		{"gateway", e.gateway, procs[0]},
		{"sidecar apps", e.sidecar, procs[1]},
		{"sidecar apps inbound", e.sidecar.Inbound(), procs[1]},
		{"sidecar other", e.other, procs[2]},
		{"waypoint " + svcA, e.waypoint.Service(driver.ServiceA), procs[3]},
		{"waypoint " + svcB, e.waypoint.Service(driver.ServiceB), procs[3]},
		{"waypoint " + seC, e.waypoint.Service(driver.ServiceEntryC), procs[3]},
	} {
		if err := waitServing(t.t); err != nil {
			return fmt.Errorf("%s never answered: %w\n%s", t.name, err, t.p.Log())
		}
	}
	return nil
}

// draining reports whether connections are still served by a replaced listener or filter chain.
func draining(p *envoyproc.Process) bool {
	for _, g := range []string{"listener_manager.total_listeners_draining", "listener_manager.total_filter_chains_draining"} {
		if n, err := p.Stat(g); err != nil || n > 0 {
			return true
		}
	}
	return false
}

// startEnvoy starts one proxy; waypoints load Envoy's internal listener extension (their
// per-service chains are internal listeners).
func startEnvoy(ctx context.Context, id proxyid.Identity, xdsAddr string, logw io.Writer) (*envoyproc.Process, error) {
	adminPort, err := freePort()
	if err != nil {
		return nil, err
	}
	boot, err := envoyproc.ADSBootstrap(id, xdsAddr, adminPort)
	if err != nil {
		return nil, err
	}
	if id.Mode == proxyid.Waypoint {
		if boot, err = withInternalListeners(boot); err != nil {
			return nil, err
		}
	}
	p, err := envoyproc.Start(ctx, envoyproc.Options{
		Bootstrap: boot, AdminPort: adminPort, Concurrency: 1, Log: logw,
		LogLevel: "warning", ComponentLogLevel: "dynamic_modules:info",
		Env: []string{"TRAFFICEXT_FAULT_INJECTION=panic-header=" + PanicHeader},
		// Connections still on a replaced listener or filter chain (an LDS update, which the
		// next spec must not see) close at once instead of after Envoy's default 600 s.
		Args: []string{"--drain-time-s", "0"},
	})
	if err != nil {
		return nil, fmt.Errorf("proxy %s: %w", id.ID, err)
	}
	return p, nil
}

// withInternalListeners adds the envoy.bootstrap.internal_listener extension to a bootstrap.
func withInternalListeners(boot string) (string, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(boot), &m); err != nil {
		return "", fmt.Errorf("bootstrap: %w", err)
	}
	m["bootstrap_extensions"] = []any{map[string]any{
		"name": "envoy.bootstrap.internal_listener",
		"typed_config": map[string]any{
			"@type": "type.googleapis.com/envoy.extensions.bootstrap.internal_listener.v3.InternalListener",
		},
	}}
	b, err := json.Marshal(m)
	return string(b), err
}

func waitServing(t driver.Target) error {
	var last error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := t.Client().Get(t.URL() + "/")
		if err != nil {
			last = err
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		last = fmt.Errorf("status %s", resp.Status)
	}
	return last
}

func (e *env) path(name string) (string, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return "", fmt.Errorf("resource file name %q: want a plain file name", name)
	}
	return filepath.Join(e.dir, name), nil
}

// Apply writes the file atomically (write + rename) so the watcher never sees half a file.
func (e *env) Apply(name string, yaml []byte) error {
	p, err := e.path(name)
	if err != nil {
		return err
	}
	tmp := filepath.Join(e.dir, ".tmp-"+name)
	if err := os.WriteFile(tmp, yaml, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

func (e *env) Delete(name string) error {
	p, err := e.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// Reset removes every resource and waits until no proxy's listeners reference an extension.
func (e *env) Reset() error {
	ents, err := os.ReadDir(e.dir)
	if err != nil {
		return err
	}
	if len(ents) == 0 {
		return nil
	}
	for _, ent := range ents {
		if err := os.Remove(filepath.Join(e.dir, ent.Name())); err != nil {
			return err
		}
	}
	var ps []driver.AdminGetter
	for _, p := range []*proxy{e.gateway, &e.sidecar.proxy, &e.other.proxy, &e.waypoint.proxy} {
		ps = append(ps, driver.AdminGetter{Name: p.name, Admin: p.p.Admin, Busy: func() bool { return draining(p.p) }})
	}
	ps = append(ps, e.tcp.adminGetters()...)
	return driver.WaitNoExtensions(ps, 15*time.Second, 50*time.Millisecond)
}

func (e *env) Gateway() driver.Proxy        { return e.gateway }
func (e *env) Sidecar() driver.Sidecar      { return e.sidecar }
func (e *env) OtherSidecar() driver.Sidecar { return e.other }
func (e *env) Waypoint() driver.Waypoint    { return e.waypoint }

func (e *env) Problems() []string {
	var out []string
	for _, p := range e.cp.Status().Problems {
		out = append(out, p.Error())
	}
	return out
}

func (e *env) Close() error {
	e.tcp.close()
	var wg sync.WaitGroup
	for _, p := range []*envoyproc.Process{e.gateway.proc(), e.sidecar.proc(), e.other.proc(), e.waypoint.proc()} {
		if p != nil {
			wg.Add(1)
			go func() { defer wg.Done(); p.Stop() }()
		}
	}
	wg.Wait()
	if e.cancel != nil {
		e.cancel()
		<-e.cpDone
	}
	for _, s := range e.echos {
		s.Close()
	}
	for _, d := range []string{e.dir, e.pkiDir} {
		if d != "" {
			os.RemoveAll(d)
		}
	}
	return nil
}

// proxy is one Envoy; its Target is a plain HTTP listener at addr.
type proxy struct {
	name string
	p    *envoyproc.Process
	url  string
	addr string
}

func (p *proxy) proc() *envoyproc.Process {
	if p == nil {
		return nil
	}
	return p.p
}

func (p *proxy) Name() string { return p.name }
func (p *proxy) URL() string  { return p.url }
func (p *proxy) Client() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
}
func (p *proxy) Dial(ctx context.Context) (net.Conn, error) {
	return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", p.addr)
}
func (p *proxy) Stat(name string) (int64, error) { return p.p.Stat(name) }
func (p *proxy) ConfigDump() (string, error)     { return p.p.Admin("/config_dump") }
func (p *proxy) Alive() bool                     { return p.p.Alive() }
func (p *proxy) Log() string                     { return p.p.Log() }

type sidecar struct {
	proxy
	id proxyid.Identity
}

func (s *sidecar) proc() *envoyproc.Process {
	if s == nil {
		return nil
	}
	return s.p
}

func (s *sidecar) Namespace() string         { return s.id.Namespace }
func (s *sidecar) Labels() map[string]string { return s.id.Labels }
func (s *sidecar) ServicePort() uint32       { return s.id.ServicePort }
func (s *sidecar) TargetPort() uint32 {
	_, p, _ := net.SplitHostPort(s.id.Upstream)
	var n uint32
	fmt.Sscan(p, &n)
	return n
}
func (s *sidecar) Inbound() driver.Target {
	return &proxy{name: s.name, p: s.p, url: "http://" + s.id.InboundListen, addr: s.id.InboundListen}
}

type waypoint struct {
	proxy
	id     proxyid.Identity
	dialer hbone.Dialer
}

var _ driver.Waypoint = (*waypoint)(nil)

func (w *waypoint) proc() *envoyproc.Process {
	if w == nil {
		return nil
	}
	return w.p
}

func (w *waypoint) Services() []string { return w.id.Services }

func (w *waypoint) Service(name string) driver.Target {
	return &hbone.Service{Dialer: w.dialer, Host: translate.ServiceHost(driver.AppNamespace + "/" + name)}
}

// The waypoint's own Target is its first service.
func (w *waypoint) URL() string          { return w.Service(driver.ServiceA).URL() }
func (w *waypoint) Client() *http.Client { return w.Service(driver.ServiceA).Client() }
func (w *waypoint) Dial(ctx context.Context) (net.Conn, error) {
	return w.Service(driver.ServiceA).Dial(ctx)
}
