package wasm

import (
	"testing"

	"github.com/trafficext/trafficext/runtime/wasm/wasmtest"
)

// BenchmarkEngine_Stream measures one whole stream (headers both ways, log, done, delete)
// through a guest, in process with the fake stream.
func BenchmarkEngine_Stream(b *testing.B) {
	for _, name := range []string{"hashparity", "headers"} {
		b.Run(name, func(b *testing.B) {
			g := wasmtest.Go(b, name)
			t := &testing.T{}
			p, _ := load(t, testEngine, g, nil)
			defer p.Close()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				drive(t, p, request{path: "/bench", headers: []string{"x-req-echo", "e"}})
			}
		})
	}
}
