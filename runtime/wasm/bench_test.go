package wasm

import (
	"strings"
	"testing"

	"github.com/trafficext/trafficext/runtime/wasm/wasmtest"
)

// unboundedEngine runs guests without the runaway bound (Options.CallTimeout < 0: no
// termination checks compiled in, no watchdog per call), for comparison.
var unboundedEngine = New(Options{CacheDir: cacheDirForTests(), MaxVMsPerPlugin: 1, CallTimeout: -1})

// BenchmarkEngine_Stream measures one whole stream (headers both ways, log, done, delete)
// through a guest, in process with the fake stream: name with the default bound (2 s per
// call), name-unbounded without it.
func BenchmarkEngine_Stream(b *testing.B) {
	for _, name := range []string{"hashparity", "headers", "hashparity-unbounded", "headers-unbounded"} {
		b.Run(name, func(b *testing.B) {
			e := testEngine
			guest, unbounded := strings.CutSuffix(name, "-unbounded")
			if unbounded {
				e = unboundedEngine
			}
			g := wasmtest.Go(b, guest)
			t := &testing.T{}
			p, _ := load(t, e, g, nil)
			defer p.Close()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				drive(t, p, request{path: "/bench", headers: []string{"x-req-echo", "e"}})
			}
		})
	}
}
