package wasm

import (
	"strings"
	"testing"

	"github.com/trafficext/trafficext/core"
)

// TestLog_LevelsTheStreamDrops: a guest line (proxy_log at info) reaches the stream's log only
// when the stream admits its level; below that it is neither formatted nor written.
func TestLog_LevelsTheStreamDrops(t *testing.T) {
	p, _ := load(t, testEngine, goGuest("headers")(t), nil)
	for _, tc := range []struct {
		min  core.LogLevel
		want int
	}{{core.LogTrace, 1}, {core.LogInfo, 1}, {core.LogWarn, 0}, {core.LogCritical, 0}} {
		s := newFakeStream()
		s.LogMin = tc.min
		s.ReqH = newMap(":method", "GET", ":path", "/logged", ":authority", "wasm.test", ":scheme", "http")
		s.Attrs["request.path"] = "/logged"
		f := p.NewFilter(s)
		f.OnRequestHeaders(true)
		f.OnStreamComplete()
		f.OnDestroy()
		got := 0
		for _, l := range s.Logs {
			if strings.HasPrefix(l.Msg, "wasm log ") && strings.HasSuffix(l.Msg, ": request headers seen: /logged") {
				got++
			}
		}
		if got != tc.want {
			t.Errorf("stream log level %v: %d guest lines, want %d (logs %v)", tc.min, got, tc.want, s.Logs)
		}
	}
}
