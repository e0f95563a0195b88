// Package kind is the conformance driver for a kind cluster prepared by `make conformance-kind`
// (manifests in kind/manifests): the trafficext control plane in trafficext-system, fed by the
// TrafficExtension CRs the driver applies with kubectl; proxies of the three shapes built from
// the proxy image (Envoy 1.39.3 + libtrafficext.so) with the same topology as the local driver
// (package driver); Istio installed beside them with istioctl.
//
// The driver reaches proxies through `kubectl port-forward` (the gateway also through the
// NodePort that kind/cluster.yaml maps to 127.0.0.1:30080) and speaks HBONE to the waypoint
// with the client certificate minted into the PKI directory by the make target.
package kind

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/trafficext/trafficext/conformance/driver"
	"github.com/trafficext/trafficext/conformance/driver/hbone"
	"github.com/trafficext/trafficext/internal/envoyproc"
)

// Names of the cluster objects the driver uses (kind/manifests).
const (
	SystemNamespace    = "trafficext-system"
	ControlPlane       = "trafficext-xds"
	GatewayDeployment  = "trafficext-ingressgateway"
	SidecarDeployment  = "echo"
	WaypointDeployment = "trafficext-waypoint"
	ProxyContainer     = "proxy"
	AdminPort          = 15000
	OutboundPort       = 15001
	InboundPort        = 15006
	HBONEPort          = 15008
	// TargetPort is the echo container's port (inbound match ports compare with it).
	TargetPort = 9080
	// GatewayNodePort is the gateway's NodePort, mapped to 127.0.0.1 by kind/cluster.yaml.
	GatewayNodePort = 30080
)

// Driver runs the catalogue against a kind cluster prepared by `make conformance-kind`.
type Driver struct {
	// Context is the kubectl context ("kind-trafficext").
	Context string
	// Kubectl is the kubectl binary; "" means kubectl from PATH.
	Kubectl string
	// PKIDir holds the HBONE client certificate; "" means out/kind/pki under the module root.
	PKIDir string
	// Log receives kubectl output.
	Log io.Writer
}

var _ driver.Driver = Driver{}

// Start waits for the deployments, opens the port-forwards and returns the environment.
func (d Driver) Start(ctx context.Context) (driver.Env, error) {
	if d.Kubectl == "" {
		d.Kubectl = "kubectl"
	}
	if d.Log == nil {
		d.Log = io.Discard
	}
	if d.PKIDir == "" {
		d.PKIDir = filepath.Join("out", "kind", "pki")
		if root, err := envoyproc.ModuleRoot(); err == nil {
			d.PKIDir = filepath.Join(root, d.PKIDir)
		}
	}
	dir, err := os.MkdirTemp("", "trafficext-kind-")
	if err != nil {
		return nil, err
	}
	e := &env{d: d, dir: dir, applied: map[string]string{}}
	if err := e.start(ctx); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

type env struct {
	d        Driver
	dir      string
	mu       sync.Mutex
	applied  map[string]string // resource file name → path of the applied copy
	forwards []*exec.Cmd
	gateway  *proxy
	sidecar  *sidecar
	other    *sidecar
	waypoint *waypoint
}

func (e *env) kubectl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, e.d.Kubectl, append([]string{"--context", e.d.Context}, args...)...)
	out, err := cmd.CombinedOutput()
	fmt.Fprintf(e.d.Log, "$ kubectl %s\n%s", strings.Join(args, " "), out)
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (e *env) start(ctx context.Context) error {
	for _, w := range [][2]string{
		{SystemNamespace, ControlPlane}, {driver.RootNamespace, GatewayDeployment},
		{driver.AppNamespace, SidecarDeployment}, {driver.OtherNamespace, SidecarDeployment},
		{driver.AppNamespace, WaypointDeployment}, {driver.AppNamespace, driver.ServiceA}, {driver.AppNamespace, driver.ServiceB},
	} {
		if _, err := e.kubectl(ctx, "-n", w[0], "rollout", "status", "deploy/"+w[1], "--timeout=5m"); err != nil {
			return err
		}
	}
	tlsCfg, err := hbone.ClientTLS(e.d.PKIDir, driver.WaypointName+"."+driver.AppNamespace+".svc.cluster.local")
	if err != nil {
		return fmt.Errorf("kind: %w (run `make conformance-kind-deploy` first)", err)
	}
	gwPorts, err := e.forward(ctx, driver.RootNamespace, GatewayDeployment, AdminPort)
	if err != nil {
		return err
	}
	scPorts, err := e.forward(ctx, driver.AppNamespace, SidecarDeployment, OutboundPort, InboundPort, AdminPort)
	if err != nil {
		return err
	}
	otherPorts, err := e.forward(ctx, driver.OtherNamespace, SidecarDeployment, OutboundPort, InboundPort, AdminPort)
	if err != nil {
		return err
	}
	wpPorts, err := e.forward(ctx, driver.AppNamespace, WaypointDeployment, HBONEPort, AdminPort)
	if err != nil {
		return err
	}
	gwAddr := fmt.Sprintf("127.0.0.1:%d", GatewayNodePort)
	e.gateway = &proxy{e: e, name: "ingressgateway.istio-system", ns: driver.RootNamespace, deploy: GatewayDeployment, addr: gwAddr, admin: gwPorts[AdminPort]}
	sc := func(ns string, ports map[int]string) *sidecar {
		return &sidecar{proxy: proxy{e: e, name: "echo." + ns, ns: ns, deploy: SidecarDeployment, addr: ports[OutboundPort], admin: ports[AdminPort]}, inbound: ports[InboundPort]}
	}
	e.sidecar, e.other = sc(driver.AppNamespace, scPorts), sc(driver.OtherNamespace, otherPorts)
	e.waypoint = &waypoint{
		proxy:  proxy{e: e, name: "waypoint.apps", ns: driver.AppNamespace, deploy: WaypointDeployment, admin: wpPorts[AdminPort]},
		dialer: hbone.Dialer{Addr: wpPorts[HBONEPort], TLS: tlsCfg},
	}
	return nil
}

var forwarding = regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)`)

// forward runs `kubectl port-forward` for the remote ports of a deployment and returns the
// local address of each.
func (e *env) forward(ctx context.Context, ns, deploy string, ports ...int) (map[int]string, error) {
	args := []string{"--context", e.d.Context, "-n", ns, "port-forward", "--address", "127.0.0.1", "deploy/" + deploy}
	for _, p := range ports {
		args = append(args, fmt.Sprintf(":%d", p))
	}
	cmd := exec.Command(e.d.Kubectl, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = e.d.Log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("kubectl port-forward: %w", err)
	}
	e.forwards = append(e.forwards, cmd)
	got := map[int]string{}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(30 * time.Second)
	for len(got) < len(ports) {
		select {
		case l, ok := <-lines:
			if !ok {
				return nil, fmt.Errorf("kubectl port-forward %s/%s exited", ns, deploy)
			}
			fmt.Fprintln(e.d.Log, l)
			if m := forwarding.FindStringSubmatch(l); m != nil {
				var remote int
				fmt.Sscan(m[2], &remote)
				got[remote] = "127.0.0.1:" + m[1]
			}
		case <-timeout:
			return nil, fmt.Errorf("kubectl port-forward %s/%s: no forwarding after 30s", ns, deploy)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	go func() {
		for l := range lines {
			fmt.Fprintln(e.d.Log, l)
		}
	}()
	return got, nil
}

func (e *env) Apply(name string, yaml []byte) error {
	if name == "" || strings.ContainsAny(name, `/\`) {
		return fmt.Errorf("resource file name %q: want a plain file name", name)
	}
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, yaml, 0o644); err != nil {
		return err
	}
	e.mu.Lock()
	e.applied[name] = p
	e.mu.Unlock()
	// Re-applying a file updates its resources in place (no delete, so no chain change);
	// unlike the local driver, resources dropped from a re-applied file stay until Delete or
	// Reset.
	_, err := e.kubectl(context.Background(), "apply", "-f", p)
	return err
}

func (e *env) Delete(name string) error {
	e.mu.Lock()
	p := e.applied[name]
	delete(e.applied, name)
	e.mu.Unlock()
	if p == "" {
		return nil
	}
	_, err := e.kubectl(context.Background(), "delete", "--ignore-not-found", "--wait=true", "-f", p)
	return err
}

// Reset deletes every TrafficExtension in the cluster and waits until no proxy's listeners
// reference an extension.
func (e *env) Reset() error {
	e.mu.Lock()
	n := len(e.applied)
	e.applied = map[string]string{}
	e.mu.Unlock()
	if n == 0 {
		return nil
	}
	if _, err := e.kubectl(context.Background(), "delete", "trafficextensions.extensions.istio.io", "--all", "--all-namespaces", "--wait=true"); err != nil {
		return err
	}
	var ps []driver.AdminGetter
	for _, p := range []*proxy{e.gateway, &e.sidecar.proxy, &e.other.proxy, &e.waypoint.proxy} {
		ps = append(ps, driver.AdminGetter{Name: p.name, Admin: p.adminGet})
	}
	return driver.WaitNoExtensions(ps, 60*time.Second, 200*time.Millisecond)
}

func (e *env) Gateway() driver.Proxy        { return e.gateway }
func (e *env) Sidecar() driver.Sidecar      { return e.sidecar }
func (e *env) OtherSidecar() driver.Sidecar { return e.other }
func (e *env) Waypoint() driver.Waypoint    { return e.waypoint }

// Problems are the control plane's error and warning log lines about resources.
func (e *env) Problems() []string {
	out, err := e.kubectl(context.Background(), "-n", SystemNamespace, "logs", "deploy/"+ControlPlane, "-c", "xds", "--tail=500")
	if err != nil {
		return []string{err.Error()}
	}
	var ps []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "level=ERROR") || strings.Contains(l, "level=WARN") {
			ps = append(ps, l)
		}
	}
	sort.Strings(ps)
	return ps
}

func (e *env) Close() error {
	var errs []error
	for _, c := range e.forwards {
		if c.Process != nil {
			errs = append(errs, c.Process.Kill())
			_ = c.Wait()
		}
	}
	os.RemoveAll(e.dir)
	return errors.Join(errs...)
}

type proxy struct {
	e           *env
	name, ns    string
	deploy      string
	addr, admin string
}

func (p *proxy) Name() string { return p.name }
func (p *proxy) URL() string  { return "http://" + p.addr }
func (p *proxy) Client() *http.Client {
	return &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
}
func (p *proxy) Dial(ctx context.Context) (net.Conn, error) {
	return (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, "tcp", p.addr)
}

func (p *proxy) adminGet(path string) (string, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + p.admin + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func (p *proxy) Stat(name string) (int64, error) {
	body, err := p.adminGet("/stats?filter=^" + strings.ReplaceAll(name, ".", `\.`) + "$")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(body, "\n") {
		if k, v, ok := strings.Cut(l, ": "); ok && k == name {
			var n int64
			_, err := fmt.Sscan(v, &n)
			return n, err
		}
	}
	return 0, nil
}

func (p *proxy) ConfigDump() (string, error) { return p.adminGet("/config_dump") }

func (p *proxy) Alive() bool {
	s, err := p.adminGet("/ready")
	return err == nil && strings.TrimSpace(s) == "LIVE"
}

func (p *proxy) Log() string {
	out, _ := p.e.kubectl(context.Background(), "-n", p.ns, "logs", "deploy/"+p.deploy, "-c", ProxyContainer, "--tail=200")
	return out
}

type sidecar struct {
	proxy
	inbound string
}

func (s *sidecar) Namespace() string         { return s.ns }
func (s *sidecar) Labels() map[string]string { return driver.SidecarLabels }
func (s *sidecar) ServicePort() uint32       { return driver.SidecarServicePort }
func (s *sidecar) TargetPort() uint32        { return TargetPort }
func (s *sidecar) Inbound() driver.Target {
	return &proxy{e: s.e, name: s.name, ns: s.ns, deploy: s.deploy, addr: s.inbound, admin: s.admin}
}

type waypoint struct {
	proxy
	dialer hbone.Dialer
}

func (w *waypoint) Services() []string {
	return []string{driver.AppNamespace + "/" + driver.ServiceA, driver.AppNamespace + "/" + driver.ServiceB}
}

func (w *waypoint) Service(name string) driver.Target {
	return &hbone.Service{Dialer: w.dialer, Host: name + "." + driver.AppNamespace + ".svc.cluster.local"}
}

func (w *waypoint) URL() string          { return w.Service(driver.ServiceA).URL() }
func (w *waypoint) Client() *http.Client { return w.Service(driver.ServiceA).Client() }
func (w *waypoint) Dial(ctx context.Context) (net.Conn, error) {
	return w.Service(driver.ServiceA).Dial(ctx)
}
