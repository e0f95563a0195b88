// Package callout is the client of a proxy's callout gateway: a loopback listener of the same
// Envoy (added by the control plane, see xds/translate) whose single route sends each request
// to the cluster named in its x-trafficext-callout-cluster header. Through it an engine makes
// the calls the host binding cannot make on a stream — HTTP calls from a root context (tick,
// queue, configure) and gRPC calls and streams — and they still go through Envoy's clusters:
// Envoy picks the endpoint, load-balances and does TLS/mTLS to the cluster.
//
// The client speaks HTTP/2 over cleartext with prior knowledge (h2c) to the gateway, so
// responses carry real trailers (grpc-status, grpc-message, trailing metadata). One Client
// holds one connection pool to its gateway and is safe for concurrent use.
package callout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/trafficext/trafficext/core"
	"github.com/trafficext/trafficext/extconfig"
)

// ClusterHeader names the cluster a gateway request is routed to; the gateway removes it
// before the request leaves for the upstream.
const ClusterHeader = extconfig.CalloutClusterHeader

// DefaultMaxBody bounds a buffered HTTP response body.
const DefaultMaxBody = 16 << 20

// ErrBodyTooLarge fails a call whose response body exceeds the limit.
var ErrBodyTooLarge = errors.New("callout response body exceeds the limit")

// Client sends calls to one callout gateway.
type Client struct {
	addr    string
	host    string // the URL host: addr, or a placeholder for a Unix socket
	hc      *http.Client
	maxBody int64
	dial    func(ctx context.Context) (net.Conn, error)
	// ready is closed once the gateway accepted a connection.
	ready     chan struct{}
	readyOnce sync.Once
}

// New returns a client of the gateway at addr: "ip:port", or "unix:<path>" for a Unix socket
// ("unix:@name" for the abstract namespace), as extconfig.Extension.CalloutGateway.
func New(addr string) *Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	network, dialAddr, host := "tcp", addr, addr
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, dialAddr, host = "unix", path, "callout-gateway"
	}
	dial := func(ctx context.Context) (net.Conn, error) { return dialGateway(ctx, network, dialAddr) }
	t := &http.Transport{
		Protocols:           &p,
		DialContext:         func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) },
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &Client{addr: addr, host: host, hc: &http.Client{Transport: t}, maxBody: DefaultMaxBody, dial: dial, ready: make(chan struct{})}
}

// MaxDialWait bounds how long a call waits for the gateway listener to accept connections.
const MaxDialWait = 30 * time.Second

// dialGateway connects to the gateway, retrying while the connection is refused: a plugin's
// VM starts (and may call out from its first tick) while Envoy loads its configuration, before
// the gateway listener of the same Envoy is bound. A refused connection (or a Unix socket not
// created yet) sent nothing, so retrying is safe.
func dialGateway(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, MaxDialWait)
	defer cancel()
	wait := 10 * time.Millisecond
	for {
		c, err := d.DialContext(ctx, network, addr)
		if err == nil || !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ENOENT) {
			return c, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

// waitReady waits (at most MaxDialWait, or until ctx ends) until the gateway has accepted a
// connection once. A call's timeout starts after it: a VM's first tick can run while Envoy
// is still loading its configuration, whereas in Envoy a tick, and its calls' timers, only
// run on a running server.
func (c *Client) waitReady(ctx context.Context) error {
	select {
	case <-c.ready:
		return nil
	default:
	}
	conn, err := c.dial(ctx)
	if err != nil {
		return err
	}
	conn.Close()
	c.readyOnce.Do(func() { close(c.ready) })
	return nil
}

// Addr returns the gateway address.
func (c *Client) Addr() string { return c.addr }

// Close releases the idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Response is a buffered HTTP response: Headers start with :status; names are lower case.
type Response struct {
	Headers  []core.Header
	Body     []byte
	Trailers []core.Header
}

// TimeoutHeader carries a call's timeout to the gateway, whose router enforces it as Envoy's
// async client does for a callout: a call that runs out of time is answered 504 "upstream
// request timeout" (gRPC: UNAVAILABLE). The client's own deadline is a backstop TimeoutGrace
// later.
const TimeoutHeader = "x-envoy-upstream-rq-timeout-ms"

// TimeoutGrace is how much longer than a call's timeout the client waits for the gateway.
const TimeoutGrace = 2 * time.Second

// Do sends a buffered HTTP call to req.Cluster through the gateway. req.Headers must carry
// :method, :path and :authority (or host); req.Timeout (when > 0) bounds the call.
func (c *Client) Do(ctx context.Context, req core.CalloutRequest) (Response, error) {
	if err := c.waitReady(ctx); err != nil {
		return Response{}, fmt.Errorf("callout to cluster %q via %s: %w", req.Cluster, c.addr, err)
	}
	if req.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.Timeout+TimeoutGrace)
		defer cancel()
	}
	hr, err := c.newRequest(ctx, req.Cluster, req.Headers, nil)
	if err != nil {
		return Response{}, err
	}
	setTimeout(hr.Header, req.Timeout)
	if len(req.Body) > 0 {
		hr.Body = io.NopCloser(strings.NewReader(string(req.Body)))
		hr.ContentLength = int64(len(req.Body))
	}
	res, err := c.hc.Do(hr)
	if err != nil {
		return Response{}, fmt.Errorf("callout to cluster %q via %s: %w", req.Cluster, c.addr, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, c.maxBody+1))
	if err != nil {
		return Response{}, fmt.Errorf("callout to cluster %q: reading the response: %w", req.Cluster, err)
	}
	if int64(len(body)) > c.maxBody {
		return Response{}, fmt.Errorf("callout to cluster %q: %w (%d bytes)", req.Cluster, ErrBodyTooLarge, c.maxBody)
	}
	delete(res.Header, DetailsHeader)
	return Response{Headers: responseHeaders(res), Body: body, Trailers: pairs(res.Trailer)}, nil
}

// newRequest builds the gateway request from Proxy-Wasm style headers (pseudo-headers
// included). body may be nil.
func (c *Client) newRequest(ctx context.Context, cluster string, hs []core.Header, body io.Reader) (*http.Request, error) {
	if cluster == "" {
		return nil, errors.New("callout: empty cluster name")
	}
	method, path, authority := "", "", ""
	h := http.Header{}
	for _, kv := range hs {
		switch k := strings.ToLower(kv.Key); k {
		case ":method":
			method = kv.Value
		case ":path":
			path = kv.Value
		case ":authority":
			authority = kv.Value
		case "host":
			if authority == "" {
				authority = kv.Value
			}
		case ":scheme", ClusterHeader, TimeoutHeader:
		default:
			if strings.HasPrefix(k, ":") {
				return nil, fmt.Errorf("callout: unsupported pseudo-header %q", kv.Key)
			}
			h.Add(k, kv.Value)
		}
	}
	if method == "" || path == "" || authority == "" {
		return nil, errors.New("callout: :method, :path and :authority are required")
	}
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("callout: :path %q does not start with /", path)
	}
	u, err := url.Parse("http://" + c.host + path)
	if err != nil {
		return nil, fmt.Errorf("callout: :path %q: %w", path, err)
	}
	hr, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("callout: %w", err)
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = []string{""} // no Go default user-agent
	}
	hr.Header = h
	hr.Header.Set(ClusterHeader, cluster)
	hr.Host = authority
	return hr, nil
}

func setTimeout(h http.Header, d time.Duration) {
	if d > 0 {
		h.Set(TimeoutHeader, strconv.FormatInt(max(d.Milliseconds(), 1), 10))
	}
}

// responseHeaders lists :status and the response headers, names lower-cased and sorted (the
// order on the wire is not kept by net/http).
func responseHeaders(res *http.Response) []core.Header {
	out := []core.Header{{Key: ":status", Value: fmt.Sprint(res.StatusCode)}}
	return append(out, pairs(res.Header)...)
}

func pairs(h http.Header) []core.Header {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []core.Header
	for _, k := range keys {
		for _, v := range h[k] {
			out = append(out, core.Header{Key: strings.ToLower(k), Value: v})
		}
	}
	return out
}
