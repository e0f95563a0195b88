package lua

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"

	"github.com/trafficext/trafficext/internal/testpki"
)

// PKI is the throw-away certificate material of a batch's TLS listeners: a CA, a server
// certificate for conformance.test and a client certificate with SPIFFE and DNS SANs.
type PKI struct {
	CA, ServerCert, ServerKey string // PEM
	Client                    *tls.Config
}

// NewPKI generates the material.
func NewPKI() (*PKI, error) {
	ca, err := testpki.NewCA(pkix.Name{CommonName: "conformance CA", Organization: []string{"trafficext"}})
	if err != nil {
		return nil, err
	}
	sc, sk, err := ca.Issue(testpki.Leaf{Serial: 2, Subject: pkix.Name{CommonName: "conformance.test", Organization: []string{"conformance"}},
		DNS: []string{"conformance.test"}, URIs: []string{"spiffe://cluster.local/ns/istio-system/sa/gateway"}, Usage: x509.ExtKeyUsageServerAuth})
	if err != nil {
		return nil, err
	}
	cc, ck, err := ca.Issue(testpki.Leaf{Serial: 3, Subject: pkix.Name{CommonName: "client", Organization: []string{"conformance"}},
		DNS: []string{"client.test", "alt.client.test"}, URIs: []string{"spiffe://cluster.local/ns/client/sa/app"}, Usage: x509.ExtKeyUsageClientAuth})
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(cc, ck)
	if err != nil {
		return nil, err
	}
	return &PKI{
		CA:         string(ca.PEM),
		ServerCert: string(sc), ServerKey: string(sk),
		Client: &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: ca.Pool(), ServerName: "conformance.test",
			MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}},
	}, nil
}
