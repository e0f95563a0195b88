// Package echo is the demo and test upstream: an HTTP/1.1 and h2c server that answers every
// request with a JSON report of what it received (method, path, headers, body), so that tests
// can assert what reached the workload. A request may shape the answer with headers:
// x-echo-status (status code), x-echo-header ("name: value", repeatable) and x-echo-body
// (literal body instead of the report).
package echo

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

// Report is what the echo server received.
type Report struct {
	Method   string              `json:"method"`
	Path     string              `json:"path"`
	Host     string              `json:"host"`
	Proto    string              `json:"proto"`
	Headers  map[string][]string `json:"headers"`
	Body     string              `json:"body"`
	Trailers map[string][]string `json:"trailers,omitempty"`
	// Server names the echo instance (for multi-upstream scenarios).
	Server string `json:"server"`
}

// Header returns the first value of a received header (case-insensitive).
func (r *Report) Header(name string) string {
	v := r.Headers[strings.ToLower(name)]
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// Has reports whether the header was received.
func (r *Report) Has(name string) bool { _, ok := r.Headers[strings.ToLower(name)]; return ok }

// Capture reads the request's body and its headers and trailers with lower-case names
// (trailers nil when there are none); call it before writing the response.
func Capture(req *http.Request) (body string, headers, trailers map[string][]string) {
	b, _ := io.ReadAll(req.Body)
	headers = map[string][]string{}
	for k, v := range req.Header {
		headers[strings.ToLower(k)] = v
	}
	if len(req.Trailer) > 0 {
		trailers = map[string][]string{}
		for k, v := range req.Trailer {
			trailers[strings.ToLower(k)] = v
		}
	}
	return string(b), headers, trailers
}

// AddHeaders adds each "name: value" of lines to h (the echo's response-shaping headers).
func AddHeaders(h http.Header, lines []string) {
	for _, l := range lines {
		if k, v, ok := strings.Cut(l, ":"); ok {
			h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
}

// Handler returns the echo handler; name is reported as Server.
func Handler(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, headers, trailers := Capture(req)
		rep := Report{Method: req.Method, Path: req.URL.RequestURI(), Host: req.Host, Proto: req.Proto,
			Headers: headers, Trailers: trailers, Body: body, Server: name}
		AddHeaders(w.Header(), req.Header.Values("x-echo-header"))
		status := http.StatusOK
		if s, err := strconv.Atoi(req.Header.Get("x-echo-status")); err == nil && s >= 100 && s < 600 {
			status = s
		}
		if b := req.Header.Get("x-echo-body"); b != "" {
			w.Header().Set("content-type", "text/plain")
			w.WriteHeader(status)
			io.WriteString(w, b)
			return
		}
		w.Header().Set("content-type", "application/json")
		w.WriteHeader(status)
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(&rep)
	})
}

// Server is a running echo server.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan error
}

// Start listens on addr ("127.0.0.1:0" for any port) and serves until Close.
func Start(addr, name string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h2c.NewHandler(Handler(name), &http2.Server{}), ReadHeaderTimeout: 10 * time.Second}
	s := &Server{srv: srv, ln: ln, done: make(chan error, 1)}
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	return s, nil
}

// Addr is the listening address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Port is the listening port.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Close stops the server.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	return <-s.done
}

// SortedHeaderNames lists the received header names (for stable output).
func (r *Report) SortedHeaderNames() []string {
	names := make([]string, 0, len(r.Headers))
	for k := range r.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
