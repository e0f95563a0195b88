package golang

import (
	"strings"
	"testing"

	"github.com/trafficext/trafficext/core"
	"github.com/trafficext/trafficext/engine/lua"
	"github.com/trafficext/trafficext/extconfig"
	"github.com/trafficext/trafficext/host/contract"
)

// fakeDriver runs contract cases through this binding inside the fake golang filter chain.
type fakeDriver struct{ engines []core.Engine }

var _ contract.Driver = fakeDriver{}

func (d fakeDriver) Do(t testing.TB, c contract.Case) contract.Result {
	t.Helper()
	var opts []core.Option
	if c.PanicHeader != "" {
		opts = append(opts, core.WithFaultInjection(core.FaultInjection{PanicHeader: c.PanicHeader}))
	}
	r := newHarness(t, d.engines, opts...).run(c)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("filter logs:\n%s", strings.Join(r.req.filterLogs, "\n"))
		}
	})
	return r.Result
}

// TestContract runs the core contract through the golang filter binding with the Lua engine.
func TestContract(t *testing.T) {
	contract.Run(t, fakeDriver{engines: []core.Engine{lua.New(lua.Options{})}})
}

// TestLua_BufferedBodies goes beyond the contract's spine: a Lua extension that buffers both
// bodies (the golang filter's StopAndBuffer and whole-body data events).
func TestLua_BufferedBodies(t *testing.T) {
	c := contract.Case{
		Extensions: []extconfig.Extension{{
			Schema: extconfig.SchemaVersion,
			Name:   contract.NamePrefix + "bodies",
			Lua: &extconfig.Lua{InlineCode: `
function envoy_on_request(request_handle)
  local body = request_handle:body()
  request_handle:headers():add("x-request-length", tostring(body:length()))
end

function envoy_on_response(response_handle)
  local body = response_handle:body()
  response_handle:headers():add("x-response-body", body:getBytes(0, body:length()))
end
`},
		}},
		Request:  contract.Request{Method: "POST", Body: "ping!"},
		Upstream: contract.Upstream{Body: "pong"},
		Expect: contract.Expect{
			Status: 200, UpstreamReached: true,
			UpstreamHeaders: map[string]string{"x-request-length": "5"},
			ResponseHeaders: map[string]string{"x-response-body": "pong"},
			BodyContains:    "pong",
		},
	}
	d := fakeDriver{engines: []core.Engine{lua.New(lua.Options{})}}
	contract.Check(t, c, d.Do(t, c))
}
