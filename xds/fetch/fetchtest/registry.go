// Package fetchtest runs a real OCI registry for tests: Debian's docker-registry
// (github.com/docker/distribution) on loopback, plain or with TLS (a test CA made here) and
// htpasswd authentication. It installs the package with apt-get when the binary is missing.
package fetchtest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/trafficext/trafficext/internal/testpki"
)

// TB is what Start needs from a test: *testing.T, *testing.B or Ginkgo's GinkgoT().
type TB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	TempDir() string
	Cleanup(func())
}

// Binary is where Debian's docker-registry package installs the registry.
const Binary = "/usr/bin/docker-registry"

// Test credentials of an authenticated registry. PasswordHash is bcrypt of Password (the
// htpasswd format docker-registry accepts only bcrypt).
const (
	Username     = "trafficext"
	Password     = "s3cret"
	passwordHash = "$2b$05$V19osio50cTq90NtdnzlO.WI22TQjhhX0Tu65ZWHTe7ZAW4GP/jgS"
)

// Options shape a registry.
type Options struct {
	// TLS serves https with a certificate for 127.0.0.1 signed by a fresh test CA.
	TLS bool
	// Auth requires htpasswd basic authentication (Username/Password).
	Auth bool
	// Addr is the listen address; "" picks a free loopback port.
	Addr string
}

// Registry is a running (or stopped) docker-registry process with its own storage.
type Registry struct {
	// Addr is host:port.
	Addr string
	// CAs trusts the registry's certificate (nil without TLS); CAPEM is the CA certificate.
	CAs   *x509.CertPool
	CAPEM []byte

	t      TB
	config string
	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	log    *bytes.Buffer
}

var installOnce sync.Once
var installErr error

// EnsureInstalled installs the docker-registry package when the binary is missing (apt-get,
// through sudo when not root) and returns an error saying what to do when that fails.
func EnsureInstalled() error {
	installOnce.Do(func() {
		if _, err := os.Stat(Binary); err == nil {
			return
		}
		var prefix []string
		if os.Geteuid() != 0 {
			sudo, err := exec.LookPath("sudo")
			if err != nil {
				installErr = fmt.Errorf("%s is missing and this user is not root and has no sudo: install Debian's docker-registry package (apt-get install -y docker-registry)", Binary)
				return
			}
			prefix = []string{sudo, "-n"}
		}
		run := func(args ...string) error {
			full := append(append([]string{}, prefix...), args...)
			cmd := exec.Command(full[0], full[1:]...)
			cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
			out, err := cmd.CombinedOutput()
			if err != nil {
				return fmt.Errorf("%v: %w\n%s", full, err, out)
			}
			return nil
		}
		err := run("apt-get", "install", "-y", "-qq", "docker-registry")
		if err != nil {
			if uerr := run("apt-get", "update", "-qq"); uerr == nil {
				err = run("apt-get", "install", "-y", "-qq", "docker-registry")
			}
		}
		if _, serr := os.Stat(Binary); serr != nil {
			installErr = fmt.Errorf("%s is missing and installing Debian's docker-registry package failed: %v", Binary, err)
		}
	})
	return installErr
}

// Start runs a registry for the test and stops it at cleanup. It fails the test with a clear
// message when the registry cannot be installed or started.
func Start(t TB, opts Options) *Registry {
	t.Helper()
	if err := EnsureInstalled(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	addr := opts.Addr
	if addr == "" {
		addr = freeAddr(t)
	}
	r := &Registry{Addr: addr, t: t, config: filepath.Join(dir, "config.yml")}
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog: {disabled: true}
storage:
  filesystem: {rootdirectory: %s}
  delete: {enabled: true}
http:
  addr: %s
`, filepath.Join(dir, "storage"), addr)
	if opts.TLS {
		certFile, keyFile := r.makeCerts(t, dir)
		cfg += fmt.Sprintf("  tls: {certificate: %s, key: %s}\n", certFile, keyFile)
	}
	if opts.Auth {
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(Username+":"+passwordHash+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg += fmt.Sprintf("auth:\n  htpasswd: {realm: trafficext-test, path: %s}\n", htpasswd)
	}
	if err := os.WriteFile(r.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// URL returns oci://<addr>/<repo>.
func (r *Registry) URL(repo string) string { return "oci://" + r.Addr + "/" + repo }

// Start (re)starts the process on the same address and storage.
func (r *Registry) Start() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return
	}
	r.log = &bytes.Buffer{}
	cmd := exec.Command(Binary, "serve", r.config)
	cmd.Stdout, cmd.Stderr = r.log, r.log
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("starting %s: %v", Binary, err)
	}
	r.cmd, r.done = cmd, make(chan struct{})
	go func(done chan struct{}) { cmd.Wait(); close(done) }(r.done)
	client := r.client()
	deadline := time.Now().Add(15 * time.Second)
	for {
		scheme := "http"
		if r.CAs != nil {
			scheme = "https"
		}
		resp, err := client.Get(scheme + "://" + r.Addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return
			}
		}
		select {
		case <-r.done:
			r.t.Fatalf("docker-registry exited at start: %s", r.log)
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("docker-registry not ready on %s after 15s (last error %v): %s", r.Addr, err, r.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the process (the storage is kept, so Start brings the same content back).
func (r *Registry) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

func (r *Registry) client() *http.Client {
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: r.CAs}}}
}

// DockerConfig returns docker config JSON with the test credentials for this registry.
func (r *Registry) DockerConfig() []byte {
	return DockerConfig(r.Addr, Username, Password)
}

// DockerConfig returns docker config JSON holding user/password for host.
func DockerConfig(host, user, password string) []byte {
	auth := base64Std(user + ":" + password)
	return []byte(fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, host, auth))
}

func freeAddr(t TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// makeCerts writes a CA-signed certificate for 127.0.0.1 and keeps the CA in r.
func (r *Registry) makeCerts(t TB, dir string) (certFile, keyFile string) {
	ca, err := testpki.NewCA(pkix.Name{CommonName: "trafficext test CA"})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue(testpki.Leaf{Serial: 2, Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPs: []net.IP{net.ParseIP("127.0.0.1")}, DNS: []string{"localhost"}, Usage: x509.ExtKeyUsageServerAuth})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := errors.Join(os.WriteFile(certFile, certPEM, 0o600), os.WriteFile(keyFile, keyPEM, 0o600)); err != nil {
		t.Fatal(err)
	}
	r.CAs = ca.Pool()
	r.CAPEM = ca.PEM
	return certFile, keyFile
}
