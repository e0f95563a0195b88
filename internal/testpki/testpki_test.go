package testpki

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"testing"
)

func TestIssueVerifies(t *testing.T) {
	ca, err := NewCA(pkix.Name{CommonName: "test CA"})
	if err != nil {
		t.Fatal(err)
	}
	c, k, err := ca.Issue(Leaf{Serial: 2, Subject: pkix.Name{CommonName: "srv"}, DNS: []string{"srv.test"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)},
		URIs: []string{"spiffe://cluster.local/ns/a/sa/b"}, Usage: x509.ExtKeyUsageServerAuth})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "srv.test"}); err != nil {
		t.Errorf("leaf does not verify against its CA: %v", err)
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != "spiffe://cluster.local/ns/a/sa/b" {
		t.Errorf("URI SANs = %v", leaf.URIs)
	}
	if _, _, err := ca.Issue(Leaf{Serial: 3, URIs: []string{"%zz"}}); err == nil {
		t.Error("a malformed URI SAN was accepted")
	}
}
