package hbone

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// PKI is a throw-away CA with a waypoint (server) and a client certificate, written as PEM
// files: ca.crt, tls.crt/tls.key (the waypoint, as a Kubernetes TLS Secret names them),
// client.crt/client.key.
type PKI struct {
	Dir        string
	ServerName string
	ca         *x509.Certificate
	caKey      *ecdsa.PrivateKey
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
	p := &PKI{Dir: dir, ServerName: serverName}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "trafficext conformance CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	if p.ca, err = x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	p.caKey = key
	if err := writePEM(filepath.Join(dir, CAFile), "CERTIFICATE", der); err != nil {
		return nil, err
	}
	if err := p.issue(2, serverName, x509.ExtKeyUsageServerAuth, ServerCertFile, ServerKeyFile); err != nil {
		return nil, err
	}
	if err := p.issue(3, "spiffe-client.conformance", x509.ExtKeyUsageClientAuth, ClientCertFile, ClientKeyFile); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *PKI) issue(serial int64, name string, usage x509.ExtKeyUsage, certFile, keyFile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		return err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := writePEM(filepath.Join(p.Dir, certFile), "CERTIFICATE", der); err != nil {
		return err
	}
	return writePEM(filepath.Join(p.Dir, keyFile), "EC PRIVATE KEY", kb)
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
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
