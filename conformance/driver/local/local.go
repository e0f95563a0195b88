// Package local is the conformance driver that runs everything on this machine: the
// trafficext control plane in-process on an ephemeral port, the echo workload, and real Envoy
// processes (the binary from ENVOY_BIN or .venv, our dynamic module from out/) shaped like
// Istio's proxies, all on loopback.
package local

import (
	"context"
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
	"github.com/trafficext/trafficext/internal/echo"
	"github.com/trafficext/trafficext/internal/envoyproc"
	"github.com/trafficext/trafficext/xds"
	"github.com/trafficext/trafficext/xds/proxyid"
	"github.com/trafficext/trafficext/xds/translate"
)

// PanicHeader is the request header the proxies accept for fault injection: its value names
// the extension that must panic.
const PanicHeader = "x-trafficext-panic"

// Driver is the local driver.
type Driver struct {
	// Log receives control-plane and Envoy output; nil discards it (the tails stay readable).
	Log io.Writer
}

var _ driver.Driver = Driver{}

// Start brings up the control plane, the echo workload and a gateway proxy.
func (d Driver) Start(ctx context.Context) (driver.Env, error) {
	e := &env{}
	if err := e.start(ctx, d.Log); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

type env struct {
	dir     string
	cancel  context.CancelFunc
	cpDone  chan error
	cp      *xds.ControlPlane
	up      *echo.Server
	gateway *proxy
	mu      sync.Mutex
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (e *env) start(ctx context.Context, logw io.Writer) error {
	if logw == nil {
		logw = io.Discard
	}
	var err error
	if e.dir, err = os.MkdirTemp("", "trafficext-conformance-"); err != nil {
		return err
	}
	if e.up, err = echo.Start("127.0.0.1:0", "workload"); err != nil {
		return fmt.Errorf("starting echo: %w", err)
	}
	listenPort, err := freePort()
	if err != nil {
		return err
	}
	adminPort, err := freePort()
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.cp, err = xds.New(xds.Options{
		Dir:       e.dir,
		Address:   lis.Addr().String(),
		Translate: translate.Options{ListenerAddress: fmt.Sprintf("127.0.0.1:%d", listenPort), Upstream: e.up.Addr()},
		Logger:    log,
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
	id := proxyid.Identity{
		ID: "ingressgateway.istio-system", Cluster: "istio-ingressgateway", Mode: proxyid.Gateway,
		Namespace: "istio-system", GatewayName: "ingressgateway",
		Labels:   map[string]string{"istio": "ingressgateway", "app": "istio-ingressgateway"},
		Upstream: e.up.Addr(),
	}
	boot, err := envoyproc.ADSBootstrap(id, lis.Addr().String(), adminPort)
	if err != nil {
		return err
	}
	p, err := envoyproc.Start(ctx, envoyproc.Options{
		Bootstrap: boot, AdminPort: adminPort, Concurrency: 2, Log: logw,
		LogLevel: "warning", ComponentLogLevel: "dynamic_modules:info",
		Env: []string{"TRAFFICEXT_FAULT_INJECTION=panic-header=" + PanicHeader},
	})
	if err != nil {
		return err
	}
	e.gateway = &proxy{p: p, url: fmt.Sprintf("http://127.0.0.1:%d", listenPort)}
	// The listener exists once LDS and its (possibly empty) ECDS set arrived.
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := e.gateway.Client().Get(e.gateway.url + "/"); err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("gateway listener never answered:\n%s", p.Log())
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

func (e *env) Reset() error {
	ents, err := os.ReadDir(e.dir)
	if err != nil {
		return err
	}
	for _, ent := range ents {
		if err := os.Remove(filepath.Join(e.dir, ent.Name())); err != nil {
			return err
		}
	}
	return nil
}

func (e *env) Gateway() driver.Proxy { return e.gateway }

func (e *env) Problems() []string {
	var out []string
	for _, p := range e.cp.Status().Problems {
		out = append(out, p.Error())
	}
	return out
}

func (e *env) Close() error {
	if e.gateway != nil {
		e.gateway.p.Stop()
	}
	if e.cancel != nil {
		e.cancel()
		<-e.cpDone
	}
	if e.up != nil {
		e.up.Close()
	}
	if e.dir != "" {
		os.RemoveAll(e.dir)
	}
	return nil
}

type proxy struct {
	p   *envoyproc.Process
	url string
}

func (p *proxy) URL() string { return p.url }
func (p *proxy) Client() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
}
func (p *proxy) Stat(name string) (int64, error) { return p.p.Stat(name) }
func (p *proxy) Alive() bool                     { return p.p.Alive() }
func (p *proxy) Log() string                     { return p.p.Log() }
