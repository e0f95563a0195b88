package lua

import (
	"testing"

	"github.com/trafficext/trafficext/core/coretest"
	"github.com/trafficext/trafficext/extconfig"
)

// The fake stream, host and their parts are coretest's.
type (
	fakeBuffer = coretest.Buffer
	fakeStream = coretest.Stream
	fakeHost   = coretest.Host
	logLine    = coretest.LogLine
)

var (
	newHeaders = coretest.NewHeaders
	newStream  = coretest.NewStream
)

const testExt = "extensions.istio.io/trafficextension/default.test"

func extension(code string) *extconfig.Extension {
	return &extconfig.Extension{Schema: extconfig.SchemaVersion, Name: testExt, Lua: &extconfig.Lua{InlineCode: code}}
}

// load compiles code with opts or fails the test.
func load(t testing.TB, code string, opts ...Options) (*plugin, *fakeHost) {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	h := &fakeHost{}
	p, err := New(o).Load(extension(code), h)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return p.(*plugin), h
}

// errorsCounted is the script_error counter of s.
func errorsCounted(s *fakeStream, h *fakeHost) uint64 {
	return s.Counters[h.ID("trafficext.default.test.script_error")]
}

func timeoutsCounted(s *fakeStream, h *fakeHost) uint64 {
	return s.Counters[h.ID("trafficext.default.test.script_timeout")]
}
