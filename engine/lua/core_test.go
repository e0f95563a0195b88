package lua

import (
	"testing"

	"github.com/trafficext/trafficext/core"
	"github.com/trafficext/trafficext/extconfig"
)

// TestThroughCore drives the engine through the core's Runtime and StreamHandler, as a binding
// does: the parity script works, and a host panic reaches the core's fail strategy.
func TestThroughCore(t *testing.T) {
	rt := core.NewRuntime([]core.Engine{New(Options{})})
	for _, tc := range []struct {
		name     string
		strategy extconfig.FailStrategy
		panics   bool
		want     core.Status
	}{
		{"parity", "", false, core.Continue},
		{"panic fail-close", extconfig.FailClose, true, core.Replied},
		{"panic fail-open", extconfig.FailOpen, true, core.Continue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ext := extension(parityScript + "\nfunction envoy_on_request(r) r:streamInfo():protocol() " +
				"local n = tonumber(r:headers():get('x-number')) " +
				"r:streamInfo():dynamicMetadata():set('envoy.lua', 'parity', n % 2 == 0 and 'even' or 'odd') end")
			ext.FailStrategy = tc.strategy
			raw, err := extconfig.Marshal(ext)
			if err != nil {
				t.Fatal(err)
			}
			host := &fakeHost{}
			cfg, err := rt.NewConfig(testExt, raw, host)
			if err != nil {
				t.Fatal(err)
			}
			defer cfg.Close()
			s := newStream()
			s.ReqH.Add("x-number", "4")
			s.PanicOnAttribute = tc.panics
			h := cfg.NewStream(s)
			if st := h.RequestHeaders(true); st != tc.want {
				t.Fatalf("request headers: %v; logs:\n%s", st, s.LogText())
			}
			h.ResponseHeaders(true)
			h.StreamComplete()
			h.Destroy()
			if tc.panics {
				if s.Counters[host.ID("trafficext.default.test.panic")] != 1 {
					t.Errorf("panic not counted by the core; logs:\n%s", s.LogText())
				}
				return
			}
			if v, _ := s.RespH.Get("x-parity"); v != "even" {
				t.Errorf("x-parity = %q; logs:\n%s", v, s.LogText())
			}
		})
	}
}
