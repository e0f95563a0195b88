// Package contract is the host-agnostic core contract that every host binding of the
// trafficext filter must pass: a table of cases, each a chain of extensions (as the
// extconfig.Extension values the control plane would push), a request, what the upstream
// answers, and the expected outcome.
//
// A binding provides a Driver that runs one Case through its host — a fake of the contrib
// golang filter API (host/golang tests) or a real Envoy with the dynamic module
// (host/dynmod) — and reports a Result; Run checks every case as a subtest. Everything a
// driver needs is plain data, so that a real-Envoy driver can render a static bootstrap from
// it: one HTTP filter per extension in Extensions order, each configured with
// extconfig.Marshal(&ext) as a google.protobuf.StringValue; FaultInjectionEnv for the Envoy
// process environment; an upstream that answers as Case.Upstream says.
package contract

import (
	"slices"
	"strings"
	"testing"

	"github.com/trafficext/trafficext/extconfig"
)

// Header is one header entry. Names are lower case.
type Header struct {
	Name, Value string
}

// Request is the downstream request.
type Request struct {
	// Method defaults to GET, Path to "/", Authority to DefaultAuthority.
	Method, Path, Authority string
	Headers                 []Header
	Body                    string
}

// DefaultAuthority is the :authority of a request that names none.
const DefaultAuthority = "contract.trafficext.test"

// Upstream is what the upstream answers. The zero value is the echo upstream: status 200, the
// request body as the response body, and no other headers that a case depends on.
type Upstream struct {
	// Status 0 means 200.
	Status  int
	Headers []Header
	// Body replaces the echoed request body when set.
	Body string
}

// Expect is the outcome a case requires.
type Expect struct {
	// Status is the final response status seen downstream.
	Status int
	// ResponseHeaders must be present downstream; a header's values joined with "," must
	// equal the given value.
	ResponseHeaders map[string]string
	// AbsentResponseHeaders must not be present downstream.
	AbsentResponseHeaders []string
	// UpstreamReached says whether the request must (true) or must not (false) reach the
	// upstream.
	UpstreamReached bool
	// UpstreamHeaders must have been received by the upstream (same matching as
	// ResponseHeaders); only checked when the upstream was reached.
	UpstreamHeaders map[string]string
	// AbsentUpstreamHeaders must not have been received by the upstream.
	AbsentUpstreamHeaders []string
	// BodyContains must be a substring of the downstream response body.
	BodyContains string
}

// Case is one contract case.
type Case struct {
	Name string
	// Extensions is the filter chain, in order (the request passes them first to last, the
	// response last to first).
	Extensions []extconfig.Extension
	// PanicHeader, when set, enables the core's fault injection with this request header
	// (core.FaultInjection.PanicHeader; in Envoy's environment see FaultInjectionEnv).
	PanicHeader string
	Request     Request
	Upstream    Upstream
	Expect      Expect
}

// FaultInjectionEnv is the TRAFFICEXT_FAULT_INJECTION value enabling the case's fault
// injection ("" when the case needs none).
func (c Case) FaultInjectionEnv() string {
	if c.PanicHeader == "" {
		return ""
	}
	return "panic-header=" + c.PanicHeader
}

// Result is what a driver observed.
type Result struct {
	// Status is the downstream response status.
	Status int
	// Headers are the downstream response headers, keys lower case.
	Headers map[string][]string
	Body    string
	// UpstreamReached says whether the upstream received the request.
	UpstreamReached bool
	// UpstreamHeaders are the request headers the upstream received, keys lower case.
	UpstreamHeaders map[string][]string
}

// Driver runs a case through a host. Do reports failures to run (as opposed to wrong
// results) through t.
type Driver interface {
	Do(t testing.TB, c Case) Result
}

// Run runs every case of Cases as a subtest of t and checks its expectations.
func Run(t *testing.T, d Driver) {
	for _, c := range Cases() {
		t.Run(c.Name, func(t *testing.T) {
			Check(t, c, d.Do(t, c))
		})
	}
}

// Check reports every expectation of c that r does not meet.
func Check(t testing.TB, c Case, r Result) {
	t.Helper()
	e := c.Expect
	if r.Status != e.Status {
		t.Errorf("status = %d, want %d (body %q)", r.Status, e.Status, r.Body)
	}
	checkHeaders(t, "response", r.Headers, e.ResponseHeaders, e.AbsentResponseHeaders)
	if r.UpstreamReached != e.UpstreamReached {
		t.Errorf("upstream reached = %v, want %v", r.UpstreamReached, e.UpstreamReached)
	}
	if r.UpstreamReached {
		checkHeaders(t, "upstream request", r.UpstreamHeaders, e.UpstreamHeaders, e.AbsentUpstreamHeaders)
	}
	if !strings.Contains(r.Body, e.BodyContains) {
		t.Errorf("response body = %q, want it to contain %q", r.Body, e.BodyContains)
	}
}

func checkHeaders(t testing.TB, what string, got map[string][]string, present map[string]string, absent []string) {
	t.Helper()
	keys := make([]string, 0, len(present))
	for k := range present {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		vs, ok := got[k]
		if !ok {
			t.Errorf("%s header %q missing, want %q (have %v)", what, k, present[k], got)
			continue
		}
		if v := strings.Join(vs, ","); v != present[k] {
			t.Errorf("%s header %q = %q, want %q", what, k, v, present[k])
		}
	}
	for _, k := range absent {
		if vs, ok := got[k]; ok {
			t.Errorf("%s header %q = %q, want it absent", what, k, vs)
		}
	}
}

// Normalize fills the request defaults (method, path, authority) and the echo upstream's
// status, so that drivers need not repeat them.
func (c Case) Normalize() Case {
	if c.Request.Method == "" {
		c.Request.Method = "GET"
	}
	if c.Request.Path == "" {
		c.Request.Path = "/"
	}
	if c.Request.Authority == "" {
		c.Request.Authority = DefaultAuthority
	}
	if c.Upstream.Status == 0 {
		c.Upstream.Status = 200
	}
	return c
}
