package hbone

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	// Ginkgo is imported for its flags only: `make conformance` passes -ginkgo.* to every test
	// binary under conformance/, this one included.
	_ "github.com/onsi/ginkgo/v2"
	"golang.org/x/net/http2"
)

// startWaypoint serves HTTP/2 CONNECT over mTLS like a waypoint: a tunnel to "svc:80" echoes
// every line upper-cased; other authorities are refused.
func startWaypoint(t *testing.T, p *PKI) string {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(p.Path(ServerCertFile), p.Path(ServerKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(p.Path(CAFile))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
		NextProtos: []string{"h2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect || r.Host != "svc:80" {
			http.Error(w, "no route", http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		sc := bufio.NewScanner(r.Body)
		for sc.Scan() {
			io.WriteString(w, strings.ToUpper(sc.Text())+"\n")
			w.(http.Flusher).Flush()
		}
	})
	srv := &http2.Server{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				if err := c.(*tls.Conn).Handshake(); err != nil {
					c.Close()
					return
				}
				srv.ServeConn(c, &http2.ServeConnOpts{Handler: h})
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

func TestDialer_Tunnel(t *testing.T) {
	p, err := NewPKI(t.TempDir(), "waypoint.test")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := p.ClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	d := Dialer{Addr: startWaypoint(t, p), TLS: cfg}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.Dial(ctx, "svc:80")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(c)
	for _, msg := range []string{"hello", "again"} {
		if _, err := io.WriteString(c, msg+"\n"); err != nil {
			t.Fatal(err)
		}
		got, err := rd.ReadString('\n')
		if err != nil || got != strings.ToUpper(msg)+"\n" {
			t.Fatalf("read %q, %v", got, err)
		}
	}
	if _, err := d.Dial(ctx, "other:80"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("a refused CONNECT gave %v", err)
	}
}

func TestDialer_RequiresTrustedServer(t *testing.T) {
	p, err := NewPKI(t.TempDir(), "waypoint.test")
	if err != nil {
		t.Fatal(err)
	}
	addr := startWaypoint(t, p)
	other, err := NewPKI(t.TempDir(), "waypoint.test")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := other.ClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := (Dialer{Addr: addr, TLS: cfg}).Dial(ctx, "svc:80"); err == nil {
		t.Fatal("a waypoint signed by another CA was trusted")
	}
}
