package contract

import (
	"strings"
	"testing"

	"github.com/trafficext/trafficext/extconfig"
)

// TestCases_Valid checks that every case is runnable: unique names, extension configs that
// marshal and round-trip, and a stated expected status.
func TestCases_Valid(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Cases() {
		if c.Name == "" || seen[c.Name] {
			t.Errorf("case name %q empty or duplicated", c.Name)
		}
		seen[c.Name] = true
		if len(c.Extensions) == 0 {
			t.Errorf("%s: no extensions", c.Name)
		}
		if c.Expect.Status == 0 {
			t.Errorf("%s: no expected status", c.Name)
		}
		for i := range c.Extensions {
			raw, err := extconfig.Marshal(&c.Extensions[i])
			if err != nil {
				t.Errorf("%s: extension %d: %v", c.Name, i, err)
				continue
			}
			if _, err := extconfig.Unmarshal(raw); err != nil {
				t.Errorf("%s: extension %d does not round-trip: %v", c.Name, i, err)
			}
		}
		for _, h := range c.Request.Headers {
			if h.Name != strings.ToLower(h.Name) {
				t.Errorf("%s: request header %q is not lower case", c.Name, h.Name)
			}
		}
	}
}

// TestCheck_ReportsMismatches runs Check against a recorder to prove that it catches a wrong
// result (a contract that passes everything proves nothing).
func TestCheck_ReportsMismatches(t *testing.T) {
	c := Case{Expect: Expect{
		Status:                200,
		ResponseHeaders:       map[string]string{"x-a": "1"},
		AbsentResponseHeaders: []string{"x-b"},
		UpstreamReached:       true,
		UpstreamHeaders:       map[string]string{"x-c": "3"},
		AbsentUpstreamHeaders: []string{"x-d"},
		BodyContains:          "ok",
	}}
	good := Result{
		Status: 200, Body: "all ok",
		Headers:         map[string][]string{"x-a": {"1"}},
		UpstreamReached: true,
		UpstreamHeaders: map[string][]string{"x-c": {"3"}},
	}
	if n := failures(c, good); n != 0 {
		t.Errorf("good result: %d failures, want 0", n)
	}
	bad := Result{
		Status: 500, Body: "nope",
		Headers:         map[string][]string{"x-a": {"1", "2"}, "x-b": {"x"}},
		UpstreamReached: true,
		UpstreamHeaders: map[string][]string{"x-d": {"4"}},
	}
	if n := failures(c, bad); n != 6 {
		t.Errorf("bad result: %d failures, want 6", n)
	}
}

func failures(c Case, r Result) int {
	rec := &recorder{}
	Check(rec, c, r)
	return rec.n
}

type recorder struct {
	testing.TB
	n int
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.n++ }

func TestCase_Normalize(t *testing.T) {
	c := Case{}.Normalize()
	if c.Request.Method != "GET" || c.Request.Path != "/" || c.Request.Authority != DefaultAuthority || c.Upstream.Status != 200 {
		t.Errorf("Normalize() = %+v", c)
	}
	if got := (Case{PanicHeader: PanicHeader}).FaultInjectionEnv(); got != "panic-header="+PanicHeader {
		t.Errorf("FaultInjectionEnv() = %q", got)
	}
}
