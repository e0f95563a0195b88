package hbone

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/trafficext/trafficext/internal/testpki"
)

// PKI is a throw-away CA with a waypoint (server) and a client certificate, written as PEM
// files: ca.crt, tls.crt/tls.key (the waypoint, as a Kubernetes TLS Secret names them),
// client.crt/client.key.
type PKI struct {
	Dir        string
	ServerName string
}

// Files of a PKI directory.
const (
	CAFile         = "ca.crt"
	ServerCertFile = "tls.crt"
	ServerKeyFile  = "tls.key"
	ClientCertFile = "client.crt"
	ClientKeyFile  = "client.key"
)

// NewPKI mints the CA and both certificates into dir. serverName is the waypoint's DNS name;
// the certificate is also valid for 127.0.0.1.
func NewPKI(dir, serverName string) (*PKI, error) {
	ca, err := testpki.NewCA(pkix.Name{CommonName: "trafficext conformance CA"})
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{CAFile: ca.PEM}
	for _, l := range []struct {
		leaf      testpki.Leaf
		cert, key string
	}{
		{testpki.Leaf{Serial: 2, Subject: pkix.Name{CommonName: serverName}, DNS: []string{serverName}, Usage: x509.ExtKeyUsageServerAuth}, ServerCertFile, ServerKeyFile},
		{testpki.Leaf{Serial: 3, Subject: pkix.Name{CommonName: "spiffe-client.conformance"}, DNS: []string{"spiffe-client.conformance"}, Usage: x509.ExtKeyUsageClientAuth}, ClientCertFile, ClientKeyFile},
	} {
		l.leaf.IPs = []net.IP{net.IPv4(127, 0, 0, 1)}
		if files[l.cert], files[l.key], err = ca.Issue(l.leaf); err != nil {
			return nil, err
		}
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, err
		}
	}
	return &PKI{Dir: dir, ServerName: serverName}, nil
}

// Path is the path of one of the PKI's files.
func (p *PKI) Path(file string) string { return filepath.Join(p.Dir, file) }

// ClientTLS is the tunnel client's TLS configuration.
func (p *PKI) ClientTLS() (*tls.Config, error) { return ClientTLS(p.Dir, p.ServerName) }

// ClientTLS loads a client TLS configuration from a PKI directory.
func ClientTLS(dir, serverName string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, ClientCertFile), filepath.Join(dir, ClientKeyFile))
	if err != nil {
		return nil, fmt.Errorf("hbone: client certificate: %w", err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("hbone: %s holds no certificate", CAFile)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12}, nil
}
