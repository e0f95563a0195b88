//go:build conformance

package hardening

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trafficext/trafficext/internal/envoyproc"
)

// ports are the addresses one `trafficext run` binds; each test takes free ones so that it
// does not meet another run on this machine.
type ports struct {
	listen, xds, upstream, status string
	admin                         int
}

func freePorts(t *testing.T) ports {
	t.Helper()
	var ls []net.Listener
	addr := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		return l.Addr().String()
	}
	p := ports{listen: addr(), xds: addr(), upstream: addr(), status: addr()}
	_, admin, _ := net.SplitHostPort(addr())
	p.admin, _ = strconv.Atoi(admin)
	for _, l := range ls {
		l.Close()
	}
	return p
}

func (p ports) all() []string {
	return []string{p.listen, p.xds, p.upstream, p.status, fmt.Sprintf("127.0.0.1:%d", p.admin)}
}

// runProc is one `out/trafficext run` subprocess.
type runProc struct {
	cmd  *exec.Cmd
	out  *lockedBuffer // stdout and stderr
	done chan struct{}
	p    ports
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

func root(t *testing.T) string {
	t.Helper()
	r, err := envoyproc.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(r, "out", "trafficext")); err != nil {
		t.Fatalf("%v (run `make build`)", err)
	}
	return r
}

// startRun starts `trafficext run` on p with the extensions of dir and extra flags; it is
// killed at the end of the test if still running.
func startRun(t *testing.T, p ports, dir string, extra ...string) *runProc {
	t.Helper()
	r := root(t)
	args := append([]string{"run", "--extensions", dir, "--listen", p.listen, "--xds-address", p.xds,
		"--upstream", p.upstream, "--status-address", p.status, "--admin-port", strconv.Itoa(p.admin),
		"--log-level", "warning"}, extra...)
	cmd := exec.Command(filepath.Join(r, "out", "trafficext"), args...)
	cmd.Dir = r
	rp := &runProc{cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{}), p: p}
	cmd.Stdout, cmd.Stderr = rp.out, rp.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(rp.done) }()
	t.Cleanup(func() {
		if rp.alive() {
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case <-rp.done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-rp.done
			}
		}
		if t.Failed() {
			t.Logf("--- trafficext run output (tail) ---\n%s", tail(rp.out.String(), 4000))
		}
	})
	return rp
}

func (r *runProc) alive() bool {
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

// waitHeader waits until a request through the gateway answers with header = value.
func (r *runProc) waitHeader(t *testing.T, header, value string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if !r.alive() {
			t.Fatalf("trafficext run exited:\n%s", tail(r.out.String(), 4000))
		}
		if resp, err := get(r.p.listen); err == nil && resp.Header.Get(header) == value {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s: %s from the gateway within %v", header, value, within)
}

func get(addr string) (*http.Response, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}

// envoyChildren returns the pids of the envoy processes whose parent is pid.
func envoyChildren(pid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, comm, _, ok := procStat(n); ok && ppid == pid && comm == "envoy" {
			out = append(out, n)
		}
	}
	return out
}

// procStat reads the parent pid, command and state of a process.
func procStat(pid int) (ppid int, comm, state string, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, "", "", false
	}
	s := string(b)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return 0, "", "", false
	}
	rest := strings.Fields(s[closing+1:])
	if len(rest) < 2 {
		return 0, "", "", false
	}
	ppid, _ = strconv.Atoi(rest[1])
	return ppid, s[open+1 : closing], rest[0], true
}

// gone reports whether a process has exited (a zombie waiting for a reaper counts as gone:
// it holds no socket).
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return true
	}
	_, _, state, ok := procStat(pid)
	return !ok || state == "Z" || state == "X"
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// luaExtension is a gateway extension whose response hook sets header: value.
func luaExtension(name, header, value string) string {
	return fmt.Sprintf(`apiVersion: extensions.istio.io/v1alpha1
kind: TrafficExtension
metadata:
  name: %s
  namespace: istio-system
spec:
  selector:
    matchLabels:
      istio: ingressgateway
  phase: STATS
  lua:
    inlineCode: |
      function envoy_on_request(h) end
      function envoy_on_response(h) h:headers():replace(%q, %q) end
`, name, header, value)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
