package lua

import (
	"strings"
	"testing"
	"time"

	"github.com/trafficext/trafficext/filter/core"
)

// FuzzLoad loads arbitrary source: Load may reject it but must not panic or hang, and a loaded
// script runs fail-open within its bound.
func FuzzLoad(f *testing.F) {
	for _, seed := range []string{
		parityScript,
		"function envoy_on_request(r) end",
		"function envoy_on_request(r) for c in r:bodyChunks() do end r:respond({[':status']='200'}) end",
		"function envoy_on_response(r) local t = r:trailers() for k, v in pairs(r:headers()) do end end",
		"local x = ",
		"while true do end",
		"function envoy_on_request(r) string.rep('x', 1e9) end",
		"function envoy_on_request(r) for a, b, c in function() end do goto x end ::x:: end",
	} {
		f.Add(seed)
	}
	eng := New(Options{CallTimeout: 5 * time.Millisecond})
	f.Fuzz(func(t *testing.T, src string) {
		if len(src) > 4096 {
			return
		}
		h := &fakeHost{}
		pl, err := eng.Load(extension(src), h)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "script load error: ") {
				t.Fatalf("error without the load prefix: %v", err)
			}
			return
		}
		p := pl.(*plugin)
		defer p.Close()
		s := newStream()
		s.reqB = &fakeBuffer{b: []byte("body")}
		fl := p.NewFilter(s)
		fl.OnRequestHeaders(false)
		fl.OnRequestBody(true)
		for _, done := range s.calloutDone {
			done(core.CalloutResponse{Headers: []core.Header{{Key: ":status", Value: "200"}}})
		}
		fl.OnResponseHeaders(true)
		fl.OnDestroy()
	})
}

// FuzzHeaders drives the header API with arbitrary keys and values and checks Envoy's
// invariants from Lua.
func FuzzHeaders(f *testing.F) {
	f.Add("x-key", "value", "other")
	f.Add("X-Mixed-Case", "", "v2")
	f.Add(":path", "/a?b", "/c")
	f.Add("", "\x00\xff", "é")
	p, h := load(f, `
function envoy_on_request(r)
  local hd = r:headers()
  local k, v, w = hd:get("fuzz-k"), hd:get("fuzz-v"), hd:get("fuzz-w")
  local lk = string.lower(k)
  local before = hd:getNumValues(k)
  hd:add(k, v)
  assert(hd:getNumValues(k) == before + 1, "add counts")
  assert(hd:getAtIndex(k, before) == v, "add appends")
  hd:add(k, w)
  local joined = hd:get(k)
  assert(joined ~= nil and #joined >= #v + #w, "joined")
  hd:replace(k, w)
  assert(hd:get(k) == w and hd:getNumValues(k) == 1, "replace")
  assert(hd:get(string.upper(k)) == hd:get(lk), "case-insensitive")
  local seen = 0
  for key, val in pairs(hd) do if key == lk then seen = seen + 1 end end
  assert(seen == 1, "pairs sees replaced key once")
  hd:remove(k)
  assert(hd:get(k) == nil and hd:getNumValues(k) == 0 and hd:getAtIndex(k, 0) == nil, "remove")
end`, Options{CallTimeout: time.Second})
	f.Fuzz(func(t *testing.T, k, v, w string) {
		if k == "fuzz-k" || k == "fuzz-v" || k == "fuzz-w" || false {
			return
		}
		if strings.HasPrefix(strings.ToLower(k), "fuzz-") {
			return
		}
		s := newStream()
		s.reqH.Add("fuzz-k", k)
		s.reqH.Add("fuzz-v", v)
		s.reqH.Add("fuzz-w", w)
		// Keys already present would make the counts above ambiguous only through the fuzz
		// headers themselves, excluded above.
		roundTrip(t, p, s)
		if s.errorsCounted(h) != 0 {
			t.Fatalf("k=%q v=%q w=%q: %s", k, v, w, s.logText())
		}
	})
}
