package lua

import (
	"testing"
	"time"
)

// benchRoundTrip runs request and response headers through one filter per iteration over a
// reused fake stream (so the numbers are the engine's, not the fake's).
func benchRoundTrip(b *testing.B, code string, narrow bool) {
	p, h := load(b, code, Options{CallTimeout: time.Second})
	s := newStream()
	s.Dyn.Narrow = narrow
	s.ReqH.Add("x-number", "7")
	base := len(s.RespH.Entries)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.RespH.Entries = s.RespH.Entries[:base]
		f := p.NewFilter(s)
		f.OnRequestHeaders(true)
		f.OnResponseHeaders(true)
		f.OnStreamComplete()
		f.OnDestroy()
	}
	b.StopTimer()
	if v, _ := s.RespH.Get("x-parity"); code == parityScript && v != "odd" {
		b.Fatalf("x-parity = %q; logs:\n%s", v, s.LogText())
	}
	if errorsCounted(s, h) != 0 {
		b.Fatalf("logs:\n%s", s.LogText())
	}
}

// BenchmarkParity is the TrafficExtension announcement script.
func BenchmarkParity(b *testing.B) { benchRoundTrip(b, parityScript, false) }

// BenchmarkParityNarrowHost is the same on a host that cannot list or store tables.
func BenchmarkParityNarrowHost(b *testing.B) { benchRoundTrip(b, parityScript, true) }

// BenchmarkEmptyHooks measures the fixed cost of entering both hooks.
func BenchmarkEmptyHooks(b *testing.B) {
	benchRoundTrip(b, "function envoy_on_request(r) end\nfunction envoy_on_response(r) end", false)
}

// BenchmarkPassThrough is a direction without a hook.
func BenchmarkPassThrough(b *testing.B) {
	benchRoundTrip(b, "function envoy_on_response(r) end", false)
}

// BenchmarkHeaderOps is a typical header-rewriting script.
func BenchmarkHeaderOps(b *testing.B) {
	benchRoundTrip(b, `
function envoy_on_request(r)
  local h = r:headers()
  if h:get(":path") ~= nil then h:replace("x-path-seen", "1") end
  h:remove("x-absent")
end
function envoy_on_response(r)
  r:headers():add("x-served-by", "lua")
end`, false)
}

// BenchmarkParallelParity runs the parity script from every P against one plugin.
func BenchmarkParallelParity(b *testing.B) {
	p, _ := load(b, parityScript, Options{CallTimeout: time.Second})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		s := newStream()
		s.ReqH.Add("x-number", "8")
		base := len(s.RespH.Entries)
		for pb.Next() {
			s.RespH.Entries = s.RespH.Entries[:base]
			f := p.NewFilter(s)
			f.OnRequestHeaders(true)
			f.OnResponseHeaders(true)
			f.OnDestroy()
		}
	})
}
