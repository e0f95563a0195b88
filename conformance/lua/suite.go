// Package lua is the differential suite of the Lua engine: every script of
// conformance/testdata/lua runs in one Envoy 1.39.3 process twice, once under Envoy's native
// envoy.filters.http.lua (inline code) and once through trafficext's dynamic module, on
// listener pairs that differ only in that filter. The same requests go to both (HTTP/1.1 and
// HTTP/2, bodies, trailers, gateway- and sidecar-shaped listeners) and the suite compares the
// status, the response headers (minus timing headers), the response body and trailers, what
// the upstream received (method, path, headers, body, trailers) and the script-error counts.
//
// # Script header
//
// Each script starts with a Lua block comment holding YAML:
//
//	--[[
//	description: what the script exercises
//	requests:                         # default: one GET /
//	  - {method: POST, path: /p, headers: ["x-a: 1"], body: "hi", trailers: ["x-t: v"], chunks: 3}
//	protocols: [http1, http2]         # default: both
//	listeners: [gateway, sidecar]     # default: gateway
//	differences:                      # documented differences (docs/lua-compatibility.md)
//	  - {id: LUA-D3, aspects: ["header:x-vh"]}
//	]]
//
// Upstream behaviour is asked for with request headers the upstream understands:
// x-up-status, x-up-header ("name: value", repeatable), x-up-body (literal body instead of
// the JSON report), x-up-trailer ("name: value", repeatable) and x-up-chunks (write the body
// in that many flushed pieces).
//
// The "callout" cluster's upstream records every request it receives: for scripts that call
// httpCall the suite also compares what each side's callouts carried (method, path, host,
// headers, body), requests of such scripts being sent one pair at a time.
//
// An aspect a difference skips is one of: status, headers, header:<name>, body, trailers,
// upstream, upstream.header:<name>, upstream.body, upstream.trailers, callout,
// callout.header:<name>, callout.body, errors. A request that fails on one side only is a
// status difference.
package lua

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"

	"github.com/trafficext/trafficext/conformance/golanghost"
	"github.com/trafficext/trafficext/extconfig"
	"github.com/trafficext/trafficext/internal/echo"
	"github.com/trafficext/trafficext/internal/envoyproc"
	"github.com/trafficext/trafficext/xds/translate"
)

// Spec is a script's header.
type Spec struct {
	Description string       `json:"description"`
	Requests    []Request    `json:"requests"`
	Protocols   []string     `json:"protocols"`
	Listeners   []string     `json:"listeners"`
	Differences []Difference `json:"differences"`
}

// Request is one request a script is tested with.
type Request struct {
	Method   string   `json:"method"`
	Path     string   `json:"path"`
	Headers  []string `json:"headers"`  // "name: value"
	Body     string   `json:"body"`     // request body (none when empty)
	Trailers []string `json:"trailers"` // request trailers ("name: value")
	Chunks   int      `json:"chunks"`   // send the body in this many writes (streamed, no content-length)
}

// Difference marks a documented difference: the comparison skips its aspects.
type Difference struct {
	ID      string   `json:"id"`
	Aspects []string `json:"aspects"`
}

// Script is one test script.
type Script struct {
	ID     string // file name without .lua
	Source string
	Spec   Spec
}

// Protocols and listener shapes.
const (
	HTTP1 = "http1"
	HTTP2 = "http2"

	Gateway = "gateway"
	Sidecar = "sidecar"
	// TLS is a gateway-shaped listener terminating TLS and requiring a client certificate
	// (mTLS), for the SSL connection object.
	TLS = "tls"
)

// LoadScripts reads every *.lua of dir.
func LoadScripts(dir string) ([]*Script, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.lua"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []*Script
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		s, err := ParseScript(strings.TrimSuffix(filepath.Base(f), ".lua"), string(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// ParseScript reads a script and its header.
func ParseScript(id, src string) (*Script, error) {
	s := &Script{ID: id, Source: src}
	if strings.HasPrefix(src, "--[[") {
		end := strings.Index(src, "]]")
		if end < 0 {
			return nil, errors.New("unterminated header comment")
		}
		if err := yaml.UnmarshalStrict([]byte(src[4:end]), &s.Spec); err != nil {
			return nil, fmt.Errorf("header: %w", err)
		}
	}
	sp := &s.Spec
	if len(sp.Requests) == 0 {
		sp.Requests = []Request{{}}
	}
	for i := range sp.Requests {
		r := &sp.Requests[i]
		if r.Method == "" {
			r.Method = http.MethodGet
			if r.Body != "" {
				r.Method = http.MethodPost
			}
		}
		if r.Path == "" {
			r.Path = "/"
		}
		for _, h := range append(append([]string(nil), r.Headers...), r.Trailers...) {
			if _, _, ok := strings.Cut(h, ":"); !ok {
				return nil, fmt.Errorf("header %q is not \"name: value\"", h)
			}
		}
	}
	if len(sp.Protocols) == 0 {
		sp.Protocols = []string{HTTP1, HTTP2}
	}
	if len(sp.Listeners) == 0 {
		sp.Listeners = []string{Gateway}
	}
	for _, p := range sp.Protocols {
		if p != HTTP1 && p != HTTP2 {
			return nil, fmt.Errorf("unknown protocol %q", p)
		}
	}
	for _, l := range sp.Listeners {
		if l != Gateway && l != Sidecar && l != TLS {
			return nil, fmt.Errorf("unknown listener %q", l)
		}
	}
	for _, d := range sp.Differences {
		if d.ID == "" || len(d.Aspects) == 0 {
			return nil, errors.New("a difference needs an id and aspects")
		}
	}
	return s, nil
}

// Skips is the set of aspects the script's documented differences skip.
func (s *Script) Skips() map[string]string {
	m := map[string]string{}
	for _, d := range s.Spec.Differences {
		for _, a := range d.Aspects {
			m[a] = d.ID
		}
	}
	return m
}

// FilterName is the HTTP filter name (and the extension name) of a script on both sides: the
// route metadata namespace metadata() reads.
func (s *Script) FilterName() string { return "extensions.istio.io/trafficextension/conf." + s.ID }

// NativeErrorStat and OursErrorStat are the script-error counters of each side. The native
// one is per listener (summed over the script's listeners by the caller).
func NativeErrorStat(statPrefix string) string { return "http." + statPrefix + ".lua.errors" }

// OursErrorStat is our extension's script_error counter.
func (s *Script) OursErrorStat() string {
	return "dynamicmodulescustom.trafficext.conf." + s.ID + ".script_error"
}

// ---- upstream ----

// Report is what the upstream received.
type Report struct {
	Method   string              `json:"method"`
	Path     string              `json:"path"`
	Host     string              `json:"host"`
	Headers  map[string][]string `json:"headers"`
	Body     string              `json:"body"`
	Trailers map[string][]string `json:"trailers,omitempty"`
	Upstream string              `json:"upstream"` // always "conformance-upstream"
}

const upstreamName = "conformance-upstream"

// UpstreamHandler answers with a JSON Report of the request, shaped by the x-up-* headers.
func UpstreamHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, headers, received := echo.Capture(req)
		rep := Report{Method: req.Method, Path: req.URL.RequestURI(), Host: req.Host,
			Headers: headers, Trailers: received, Body: body, Upstream: upstreamName}
		var trailers [][2]string
		for _, h := range req.Header.Values("x-up-trailer") {
			if k, v, ok := strings.Cut(h, ":"); ok {
				k = strings.TrimSpace(k)
				trailers = append(trailers, [2]string{k, strings.TrimSpace(v)})
				w.Header().Add("Trailer", k)
			}
		}
		echo.AddHeaders(w.Header(), req.Header.Values("x-up-header"))
		status := http.StatusOK
		if s, err := strconv.Atoi(req.Header.Get("x-up-status")); err == nil && s >= 200 && s < 600 {
			status = s
		}
		if ms, err := strconv.Atoi(req.Header.Get("x-up-delay-ms")); err == nil && ms > 0 && ms < 5000 {
			time.Sleep(time.Duration(ms) * time.Millisecond)
		}
		var out []byte
		if b := req.Header.Get("x-up-body"); b != "" {
			w.Header().Set("content-type", "text/plain")
			out = []byte(b)
		} else {
			w.Header().Set("content-type", "application/json")
			out, _ = json.Marshal(&rep)
		}
		chunks, _ := strconv.Atoi(req.Header.Get("x-up-chunks"))
		if chunks <= 1 && len(trailers) == 0 {
			w.Header().Set("content-length", strconv.Itoa(len(out)))
		}
		w.WriteHeader(status)
		if req.Method == http.MethodHead {
			return
		}
		if chunks <= 1 {
			w.Write(out)
		} else {
			n := (len(out) + chunks - 1) / chunks
			for len(out) > 0 {
				k := min(n, len(out))
				w.Write(out[:k])
				out = out[k:]
				if f, ok := w.(http.Flusher); ok {
					f.Flush()
				}
				time.Sleep(2 * time.Millisecond)
			}
		}
		for _, t := range trailers {
			w.Header().Set(t[0], t[1])
		}
	})
}

// StartUpstream serves UpstreamHandler (HTTP/1.1 and h2c) on a free port.
func StartUpstream() (*http.Server, int, error) { return serve(UpstreamHandler()) }

func serve(h http.Handler) (*http.Server, int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, 0, err
	}
	srv := &http.Server{Handler: h2c.NewHandler(h, &http2.Server{}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return srv, ln.Addr().(*net.TCPAddr).Port, nil
}

// Recorder is the upstream of the "callout" cluster: UpstreamHandler that also keeps what
// each callout request carried, so that the suite compares what httpCall sent on each side.
type Recorder struct {
	mu   sync.Mutex
	seen []Report
}

// ServeHTTP records the request and answers as UpstreamHandler.
func (r *Recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, headers, trailers := echo.Capture(req)
	r.mu.Lock()
	r.seen = append(r.seen, Report{Method: req.Method, Path: req.URL.RequestURI(), Host: req.Host,
		Headers: headers, Body: body, Trailers: trailers, Upstream: upstreamName})
	r.mu.Unlock()
	req.Body = io.NopCloser(strings.NewReader(body))
	UpstreamHandler().ServeHTTP(w, req)
}

// Take returns the callouts recorded since the last Take.
func (r *Recorder) Take() []Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.seen
	r.seen = nil
	return out
}

// Len is how many callouts are recorded.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

// StartRecorder serves a Recorder on a free port.
func StartRecorder() (*http.Server, *Recorder, int, error) {
	r := &Recorder{}
	srv, port, err := serve(r)
	return srv, r, port, err
}

// ---- bootstrap ----

// Listener is one listener of the batch.
type Listener struct {
	Script     *Script
	Native     bool
	Shape      string
	Port       int
	StatPrefix string
}

// Layout assigns a listener to every (script, side, shape), on ports from freePort.
func Layout(scripts []*Script, freePort func() (int, error)) ([]*Listener, error) {
	var out []*Listener
	for _, s := range scripts {
		for _, shape := range s.Spec.Listeners {
			for _, native := range []bool{true, false} {
				port, err := freePort()
				if err != nil {
					return nil, err
				}
				side := "o"
				if native {
					side = "n"
				}
				out = append(out, &Listener{Script: s, Native: native, Shape: shape, Port: port,
					StatPrefix: side + "_" + shape + "_" + strings.ReplaceAll(s.ID, "-", "_")})
			}
		}
	}
	return out, nil
}

func addr(port int) map[string]any {
	return map[string]any{"socket_address": map[string]any{"address": "127.0.0.1", "port_value": port}}
}

// routeMetadata is the route and virtual-host metadata every listener carries under its
// filter name (metadata(), route():metadata(), virtualHost():metadata()).
func routeMetadata(filterName, kind string) map[string]any {
	return map[string]any{"filter_metadata": map[string]any{
		filterName: map[string]any{
			"kind": kind, "greeting": "hello", "count": 3, "ratio": 0.5, "flag": true,
			"list": []any{"a", 2}, "nested": map[string]any{"k": "v"},
		},
		"envoy.filters.http.lua": map[string]any{"fallback": "from-envoy.filters.http.lua", "greeting": "fallback-greeting"},
	}}
}

// Bootstrap is the Envoy bootstrap of a batch: every listener in front of the upstream (h2c),
// plus the "callout" cluster for httpCall, to calloutPort (0: the upstream). pki is needed
// for TLS listeners.
func Bootstrap(ls []*Listener, adminPort, upstreamPort, calloutPort int, pki *PKI) (string, error) {
	var listeners []any
	for _, l := range ls {
		var filter map[string]any
		if l.Native {
			filter = map[string]any{
				"name": l.Script.FilterName(),
				"typed_config": map[string]any{
					"@type":               "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
					"default_source_code": map[string]any{"inline_string": l.Script.Source},
				},
			}
		} else {
			raw, err := extconfig.Marshal(&extconfig.Extension{Schema: extconfig.SchemaVersion, Name: l.Script.FilterName(),
				Lua: &extconfig.Lua{InlineCode: l.Script.Source}, CalloutGateway: oursGateway()})
			if err != nil {
				return "", err
			}
			cfg, err := oursFilter(raw)
			if err != nil {
				return "", err
			}
			filter = map[string]any{"name": l.Script.FilterName(), "typed_config": cfg}
		}
		route := map[string]any{
			"name":     "default",
			"match":    map[string]any{"prefix": "/"},
			"route":    map[string]any{"cluster": "up_" + l.StatPrefix, "timeout": "10s"},
			"metadata": routeMetadata(l.Script.FilterName(), "route"),
		}
		if l.Native {
			// LuaPerRoute filter_context (filterContext()); the dynamic module has no
			// per-route Lua config (documented difference LUA-D6).
			route["typed_per_filter_config"] = map[string]any{l.Script.FilterName(): map[string]any{
				"@type":          "type.googleapis.com/envoy.extensions.filters.http.lua.v3.LuaPerRoute",
				"filter_context": map[string]any{"ctx_key": "ctx_value", "ctx_num": 7},
			}}
		}
		// Routes to exercise clearRouteCache and routing on headers the script set.
		rerouted := map[string]any{
			"name":  "rerouted",
			"match": map[string]any{"prefix": "/", "headers": []any{map[string]any{"name": "x-reroute", "present_match": true}}},
			"route": map[string]any{"cluster": "up_" + l.StatPrefix, "timeout": "10s", "prefix_rewrite": "/rerouted/"},
		}
		direct := map[string]any{
			"name":            "direct",
			"match":           map[string]any{"prefix": "/direct"},
			"direct_response": map[string]any{"status": 200, "body": map[string]any{"inline_string": "direct response body"}},
		}
		hcm := map[string]any{
			"@type":                 "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
			"stat_prefix":           l.StatPrefix,
			"codec_type":            "AUTO",
			"generate_request_id":   false,
			"http_protocol_options": map[string]any{"enable_trailers": true},
			"http_filters": []any{filter, map[string]any{"name": "envoy.filters.http.router", "typed_config": map[string]any{
				"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}},
		}
		vhost := map[string]any{
			"domains":  []any{"*"},
			"routes":   []any{rerouted, direct, route},
			"metadata": routeMetadata(l.Script.FilterName(), "vhost"),
		}
		var transport map[string]any
		switch l.Shape {
		case TLS:
			if pki == nil {
				return "", errors.New("a TLS listener needs the PKI")
			}
			hcm["use_remote_address"] = true
			hcm["forward_client_cert_details"] = "SANITIZE_SET"
			hcm["set_current_client_cert_details"] = map[string]any{"subject": true, "uri": true, "dns": true}
			vhost["name"] = "*:443"
			hcm["route_config"] = map[string]any{"name": "https.443", "virtual_hosts": []any{vhost}}
			transport = map[string]any{"name": "envoy.transport_sockets.tls", "typed_config": map[string]any{
				"@type":                      "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
				"require_client_certificate": true,
				"common_tls_context": map[string]any{
					"alpn_protocols": []any{"h2", "http/1.1"},
					"tls_certificates": []any{map[string]any{
						"certificate_chain": map[string]any{"inline_string": pki.ServerCert},
						"private_key":       map[string]any{"inline_string": pki.ServerKey},
					}},
					"validation_context": map[string]any{"trusted_ca": map[string]any{"inline_string": pki.CA}},
				},
			}}
		case Gateway:
			// An Istio ingress gateway's HTTP listener: remote address used, xff appended.
			hcm["use_remote_address"] = true
			hcm["normalize_path"] = true
			hcm["path_with_escaped_slashes_action"] = "KEEP_UNCHANGED"
			vhost["name"] = "*:80"
			hcm["route_config"] = map[string]any{"name": "http.80", "virtual_hosts": []any{vhost}}
		case Sidecar:
			// An Istio sidecar's inbound HTTP chain.
			hcm["use_remote_address"] = false
			hcm["normalize_path"] = true
			hcm["merge_slashes"] = false
			hcm["forward_client_cert_details"] = "APPEND_FORWARD"
			hcm["set_current_client_cert_details"] = map[string]any{"subject": true, "dns": true, "uri": true}
			vhost["name"] = "inbound|http|8080"
			hcm["route_config"] = map[string]any{"name": "inbound|8080||", "validate_clusters": false, "virtual_hosts": []any{vhost}}
		}
		chain := map[string]any{"filters": []any{map[string]any{
			"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm,
		}}}
		if transport != nil {
			chain["transport_socket"] = transport
		}
		listeners = append(listeners, map[string]any{
			"name":          l.StatPrefix,
			"address":       addr(l.Port),
			"filter_chains": []any{chain},
		})
	}
	h2 := map[string]any{"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": map[string]any{
		"@type":                "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
		"explicit_http_config": map[string]any{"http2_protocol_options": map[string]any{}},
	}}
	cluster := func(name string, port int) map[string]any {
		return map[string]any{
			"name": name, "type": "STATIC", "connect_timeout": "1s",
			"typed_extension_protocol_options": h2,
			"load_assignment": map[string]any{"cluster_name": name, "endpoints": []any{map[string]any{
				"lb_endpoints": []any{map[string]any{"endpoint": map[string]any{"address": addr(port)}}}}}},
		}
	}
	if calloutPort == 0 {
		calloutPort = upstreamPort
	}
	// "dead" refuses connections (a failed callout).
	dead := map[string]any{
		"name": "dead", "type": "STATIC", "connect_timeout": "0.25s",
		"load_assignment": map[string]any{"cluster_name": "dead", "endpoints": []any{map[string]any{
			"lb_endpoints": []any{map[string]any{"endpoint": map[string]any{"address": addr(1)}}}}}},
	}
	// One upstream cluster (so one upstream HTTP/2 connection) per listener: a stream error a
	// script provokes upstream cannot reset another script's (or the other side's) requests.
	clusters := []any{cluster("callout", calloutPort), dead}
	for _, l := range ls {
		clusters = append(clusters, cluster("up_"+l.StatPrefix, upstreamPort))
	}
	if gw := oursGateway(); gw != "" {
		l, err := gatewayListener(gw)
		if err != nil {
			return "", err
		}
		listeners = append(listeners, l)
	}
	b := map[string]any{
		"admin":            map[string]any{"address": addr(adminPort)},
		"static_resources": map[string]any{"listeners": listeners, "clusters": clusters},
	}
	out, err := json.MarshalIndent(b, "", " ")
	return string(out), err
}

// ---- client ----

// Observation is what one request produced.
type Observation struct {
	Status   int
	Reason   string // the HTTP/1 reason phrase ("" over HTTP/2)
	Headers  map[string][]string
	Body     string
	Trailers map[string][]string
	Upstream *Report // parsed from the body when it is the upstream's report
	// Callouts are the requests the callout cluster's upstream received during the request
	// (httpCall scripts only), ordered by method, path and body.
	Callouts []Report
	// Err is why the request failed (no response); the other fields are then empty.
	Err error
}

// ignoredHeaders differ between two otherwise identical responses.
var ignoredHeaders = map[string]bool{"date": true, "server": true, "x-envoy-upstream-service-time": true}

// Client sends requests over one protocol.
type Client struct {
	hc     *http.Client
	scheme string // "http" unless TLS
}

// NewClient makes a client for proto (http1: a connection per request; http2: h2c with prior
// knowledge). With tlsc, it speaks HTTPS (ALPN h2 or http/1.1) with that configuration.
func NewClient(proto string, tlsc *tls.Config) *Client {
	if tlsc != nil {
		if proto == HTTP2 {
			c := tlsc.Clone()
			c.NextProtos = []string{"h2"}
			return &Client{hc: &http.Client{Timeout: 15 * time.Second, Transport: &http2.Transport{TLSClientConfig: c}}, scheme: "https"}
		}
		c := tlsc.Clone()
		c.NextProtos = []string{"http/1.1"}
		return &Client{hc: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
			DisableCompression: true, TLSClientConfig: c, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}}, scheme: "https"}
	}
	if proto == HTTP2 {
		return &Client{hc: &http.Client{Timeout: 15 * time.Second, Transport: &http2.Transport{
			AllowHTTP: true,
			DialTLSContext: func(ctx context.Context, network, a string, _ *tls.Config) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, a)
			},
		}}}
	}
	return &Client{hc: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true}}}
}

// Close drops idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Do sends r to port.
func (c *Client) Do(port int, r Request) (*Observation, error) {
	var body io.Reader
	if r.Body != "" {
		if r.Chunks > 1 || len(r.Trailers) > 0 {
			pr, pw := io.Pipe()
			go func() {
				n := max(r.Chunks, 1)
				size := (len(r.Body) + n - 1) / n
				b := r.Body
				for len(b) > 0 {
					k := min(size, len(b))
					if _, err := io.WriteString(pw, b[:k]); err != nil {
						return
					}
					b = b[k:]
					time.Sleep(2 * time.Millisecond)
				}
				pw.Close()
			}()
			body = pr
		} else {
			body = strings.NewReader(r.Body)
		}
	}
	scheme := c.scheme
	if scheme == "" {
		scheme = "http"
	}
	req, err := http.NewRequest(r.Method, fmt.Sprintf("%s://127.0.0.1:%d%s", scheme, port, r.Path), body)
	if err != nil {
		return nil, err
	}
	if body == nil {
		req.Body = nil
	}
	req.Host = "conformance.test"
	for _, h := range r.Headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	if len(r.Trailers) > 0 {
		req.Trailer = http.Header{}
		for _, h := range r.Trailers {
			k, v, _ := strings.Cut(h, ":")
			req.Trailer.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
		if body == nil {
			req.Body = io.NopCloser(strings.NewReader(""))
			req.ContentLength = -1
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	o := &Observation{Status: resp.StatusCode, Headers: map[string][]string{}, Body: string(b)}
	if resp.ProtoMajor == 1 {
		o.Reason = strings.TrimSpace(strings.TrimPrefix(resp.Status, strconv.Itoa(resp.StatusCode)))
	}
	for k, v := range resp.Header {
		if k = strings.ToLower(k); !ignoredHeaders[k] {
			o.Headers[k] = v
		}
	}
	if len(resp.Trailer) > 0 {
		o.Trailers = map[string][]string{}
		for k, v := range resp.Trailer {
			if v != nil {
				o.Trailers[strings.ToLower(k)] = v
			}
		}
	}
	var rep Report
	if bytes.HasPrefix(b, []byte("{")) && json.Unmarshal(b, &rep) == nil && rep.Upstream == upstreamName {
		o.Upstream = &rep
	}
	return o, nil
}

// ---- comparison ----

// Compare lists the differences between the native (a) and our (b) observations, minus the
// skipped aspects.
func Compare(a, b *Observation, skip map[string]string) []string {
	var d []string
	add := func(aspect, format string, args ...any) {
		if _, ok := skip[aspect]; !ok {
			d = append(d, aspect+": "+fmt.Sprintf(format, args...))
		}
	}
	if a.Err != nil || b.Err != nil {
		if ea, eb := errText(a.Err), errText(b.Err); ea != eb {
			add("status", "native failed: %s; ours failed: %s", ea, eb)
		}
		if a.Err == nil || b.Err == nil {
			return d
		}
	}
	if _, all := skip["callout"]; !all {
		if len(a.Callouts) != len(b.Callouts) {
			add("callout", "native sent %d callouts, ours %d", len(a.Callouts), len(b.Callouts))
		}
		for i := range min(len(a.Callouts), len(b.Callouts)) {
			ca, cb := a.Callouts[i], b.Callouts[i]
			if ca.Method != cb.Method || ca.Path != cb.Path || ca.Host != cb.Host {
				add("callout.request", "#%d native %s %s (%s), ours %s %s (%s)", i, ca.Method, ca.Path, ca.Host, cb.Method, cb.Path, cb.Host)
			}
			if ca.Body != cb.Body {
				add("callout.body", "#%d native %q, ours %q", i, ca.Body, cb.Body)
			}
			cmpMaps(ca.Headers, cb.Headers, "callout.header:", skip, add)
		}
	}
	if a.Status != b.Status || a.Reason != b.Reason {
		add("status", "native %d %q, ours %d %q", a.Status, a.Reason, b.Status, b.Reason)
	}
	if _, all := skip["headers"]; !all {
		ha, hb := a.Headers, b.Headers
		if a.Upstream != nil && b.Upstream != nil {
			// The body is the upstream's report, compared field by field below (with its
			// skips); its length follows.
			ha, hb = without(ha, "content-length"), without(hb, "content-length")
		}
		cmpMaps(ha, hb, "header:", skip, add)
	}
	if _, all := skip["trailers"]; !all {
		cmpMaps(a.Trailers, b.Trailers, "trailer:", skip, add)
	}
	switch {
	case a.Upstream != nil && b.Upstream != nil:
		if _, all := skip["upstream"]; all {
			break
		}
		ua, ub := a.Upstream, b.Upstream
		if ua.Method != ub.Method || ua.Path != ub.Path || ua.Host != ub.Host {
			add("upstream.request", "native %s %s (%s), ours %s %s (%s)", ua.Method, ua.Path, ua.Host, ub.Method, ub.Path, ub.Host)
		}
		if ua.Body != ub.Body {
			add("upstream.body", "native %q, ours %q", ua.Body, ub.Body)
		}
		cmpMaps(ua.Headers, ub.Headers, "upstream.header:", skip, add)
		if _, all := skip["upstream.trailers"]; !all {
			cmpMaps(ua.Trailers, ub.Trailers, "upstream.trailer:", skip, add)
		}
	case a.Body != b.Body:
		if a.Upstream != nil || b.Upstream != nil {
			if _, all := skip["upstream"]; all {
				break
			}
		}
		add("body", "native %q, ours %q", clip(a.Body), clip(b.Body))
	}
	return d
}

func cmpMaps(a, b map[string][]string, prefix string, skip map[string]string, add func(string, string, ...any)) {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		va, vb := a[k], b[k]
		if strings.Join(va, "\x00") != strings.Join(vb, "\x00") || (va == nil) != (vb == nil) {
			add(prefix+k, "native %q, ours %q", va, vb)
		}
	}
}

var addrRe = regexp.MustCompile(`127\.0\.0\.1:\d+`)

// errText is a failed request's error without the ports that differ between the two sides
// ("none" when the request succeeded).
func errText(err error) string {
	if err == nil {
		return "none"
	}
	return addrRe.ReplaceAllString(err.Error(), "127.0.0.1:*")
}

func without(m map[string][]string, key string) map[string][]string {
	out := make(map[string][]string, len(m))
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	return out
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

// golangBinding: CONF_LUA_BINDING=golang runs our side through the golang-filter library.
func golangBinding() bool { return os.Getenv("CONF_LUA_BINDING") == "golang" }

// oursGateway is the callout gateway our extensions name: the golang binding has no HTTP
// client of Envoy's, its httpCall()s go through the gateway listener (one per test process).
func oursGateway() string {
	if !golangBinding() {
		return ""
	}
	return fmt.Sprintf("unix:@trafficext-callout-lua-%d", os.Getpid())
}

// gatewayListener is the callout gateway listener on addr exactly as xds/translate builds it.
func gatewayListener(addr string) (map[string]any, error) {
	l, err := translate.CalloutGatewayListener(addr)
	if err != nil {
		return nil, err
	}
	b, err := protojson.Marshal(l)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

// oursFilter hosts one of our extensions: in the dynamic module, or, with
// CONF_LUA_BINDING=golang, in the golang-filter library under the golang host module.
func oursFilter(raw []byte) (map[string]any, error) {
	if golangBinding() {
		lib, err := envoyproc.GolangLibrary()
		if err != nil {
			return nil, err
		}
		return golanghost.Filter(lib, raw)
	}
	return map[string]any{
		"@type":                 "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter",
		"dynamic_module_config": map[string]any{"name": "trafficext", "do_not_close": true},
		"filter_name":           "trafficext",
		"filter_config":         map[string]any{"@type": "type.googleapis.com/google.protobuf.StringValue", "value": string(raw)},
	}, nil
}
