package wasm

import (
	"errors"
	"strings"
	"testing"

	"github.com/trafficext/trafficext/engine/wasm/wasmtest"
)

// unboundedEngine runs guests without the runaway bound (Options.CallTimeout < 0: nothing
// instrumented), for comparison.
var unboundedEngine = New(Options{CacheDir: cacheDirForTests(), MaxVMsPerPlugin: 1, CallTimeout: -1})

// contextEngine bounds calls the way the engine does for a module the meter cannot
// instrument (and as it did for every module before the meter): wazero's termination checks
// and a callDeadline per VM.
var contextEngine = func() *Engine {
	e := New(Options{CacheDir: cacheDirForTests(), MaxVMsPerPlugin: 1})
	e.instrument = func([]byte) ([]byte, error) { return nil, errors.New("benchmarking the fallback") }
	return e
}()

// benchEngine returns the guest and the engine of a benchmark variant: name alone has the
// default bound (2 s per call, fuel metering), name-context the fallback bound and
// name-unbounded none.
func benchEngine(name string) (string, *Engine) {
	if g, ok := strings.CutSuffix(name, "-unbounded"); ok {
		return g, unboundedEngine
	}
	if g, ok := strings.CutSuffix(name, "-context"); ok {
		return g, contextEngine
	}
	return name, testEngine
}

// BenchmarkEngine_Stream measures one whole stream (headers both ways, log, done, delete)
// through a guest, in process with the fake stream, with each bound variant (benchEngine).
func BenchmarkEngine_Stream(b *testing.B) {
	for _, name := range []string{"hashparity", "headers", "hashparity-context", "headers-context", "hashparity-unbounded", "headers-unbounded"} {
		b.Run(name, func(b *testing.B) {
			guest, e := benchEngine(name)
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

// BenchmarkEngine_WAF measures a loop-heavy guest: one clean POST through the Coraza WAF with
// the OWASP CRS (hundreds of regular expressions per request), with each bound variant.
func BenchmarkEngine_WAF(b *testing.B) {
	for _, name := range []string{"waf", "waf-context", "waf-unbounded"} {
		b.Run(name, func(b *testing.B) {
			_, e := benchEngine(name)
			t := &testing.T{}
			p, _ := load(t, e, wasmtest.WAF(b), nil)
			defer p.Close()
			r := request{method: "POST", path: "/form?name=alice&page=2", body: "name=alice&comment=hello+world",
				headers: []string{"content-type", "application/x-www-form-urlencoded", "user-agent", "bench/1.0"}}
			if o := drive(t, p, r); o.status() != 200 {
				b.Fatalf("status %d", o.status())
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				drive(t, p, r)
			}
		})
	}
}
