// Package hbone is the client side of Istio's HBONE tunnel, as ztunnel speaks it to a
// waypoint: HTTP/2 CONNECT over mutual TLS (port 15008), one stream per tunnelled connection,
// the :authority naming the destination service. It also mints the test PKI (a CA, the
// waypoint's certificate and the client's) that the conformance drivers use.
package hbone

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

// Dialer opens tunnels to one waypoint.
type Dialer struct {
	// Addr is the waypoint's HBONE address ("host:port").
	Addr string
	// TLS carries the client certificate, the CA and the waypoint's server name.
	TLS *tls.Config
}

// Dial opens a tunnel to authority ("host:port", the destination service) and returns the
// connection inside it.
func (d Dialer) Dial(ctx context.Context, authority string) (net.Conn, error) {
	raw, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", d.Addr)
	if err != nil {
		return nil, fmt.Errorf("hbone: dialing %s: %w", d.Addr, err)
	}
	cfg := d.TLS.Clone()
	cfg.NextProtos = []string{"h2"}
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("hbone: TLS handshake with %s: %w", d.Addr, err)
	}
	cc, err := (&http2.Transport{}).NewClientConn(tc)
	if err != nil {
		tc.Close()
		return nil, fmt.Errorf("hbone: HTTP/2 with %s: %w", d.Addr, err)
	}
	pr, pw := io.Pipe()
	sctx, cancel := context.WithCancel(context.Background())
	req := (&http.Request{
		Method: http.MethodConnect,
		URL:    &url.URL{Host: authority},
		Host:   authority,
		Header: http.Header{},
		Body:   pr,
	}).WithContext(sctx)
	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := cc.RoundTrip(req)
		done <- result{resp, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		r.err = ctx.Err()
	}
	if r.err == nil && r.resp.StatusCode != http.StatusOK {
		r.resp.Body.Close()
		r.err = fmt.Errorf("status %s", r.resp.Status)
	}
	if r.err != nil {
		cancel()
		pw.Close()
		tc.Close()
		return nil, fmt.Errorf("hbone: CONNECT %s via %s: %w", authority, d.Addr, r.err)
	}
	return &conn{body: r.resp.Body, w: pw, tc: tc, cc: cc, cancel: cancel}, nil
}

// conn is one tunnelled connection; deadlines apply to the TLS connection carrying it (one
// tunnel per TLS connection).
type conn struct {
	body   io.ReadCloser
	w      *io.PipeWriter
	tc     *tls.Conn
	cc     *http2.ClientConn
	cancel context.CancelFunc
	once   sync.Once
}

func (c *conn) Read(b []byte) (int, error) { return c.body.Read(b) }

func (c *conn) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	if errors.Is(err, io.ErrClosedPipe) {
		err = net.ErrClosed
	}
	return n, err
}

func (c *conn) Close() error {
	c.once.Do(func() {
		c.w.Close()
		c.body.Close()
		c.cancel()
		c.cc.Close()
		c.tc.Close()
	})
	return nil
}

func (c *conn) LocalAddr() net.Addr                { return c.tc.LocalAddr() }
func (c *conn) RemoteAddr() net.Addr               { return c.tc.RemoteAddr() }
func (c *conn) SetDeadline(t time.Time) error      { return c.tc.SetDeadline(t) }
func (c *conn) SetReadDeadline(t time.Time) error  { return c.tc.SetReadDeadline(t) }
func (c *conn) SetWriteDeadline(t time.Time) error { return c.tc.SetWriteDeadline(t) }

// Client returns an HTTP client whose every connection is a new tunnel to authority.
func (d Dialer) Client(authority string) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.Dial(ctx, authority)
		},
	}}
}

// Service is a service behind a waypoint, reached through tunnels to authority Host:80.
type Service struct {
	Dialer Dialer
	Host   string
}

func (s *Service) authority() string    { return s.Host + ":80" }
func (s *Service) URL() string          { return "http://" + s.Host }
func (s *Service) Client() *http.Client { return s.Dialer.Client(s.authority()) }
func (s *Service) Dial(ctx context.Context) (net.Conn, error) {
	return s.Dialer.Dial(ctx, s.authority())
}
