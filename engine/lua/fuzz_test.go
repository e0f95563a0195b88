package lua

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trafficext/trafficext/core"
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
		s.ReqBody = &fakeBuffer{Data: []byte("body")}
		fl := p.NewFilter(s)
		fl.OnRequestHeaders(false)
		fl.OnRequestBody(true)
		for _, c := range s.Callouts {
			c.Done(core.CalloutResponse{Headers: []core.Header{{Key: ":status", Value: "200"}}})
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
		s.ReqH.Add("fuzz-k", k)
		s.ReqH.Add("fuzz-v", v)
		s.ReqH.Add("fuzz-w", w)
		// Keys already present would make the counts above ambiguous only through the fuzz
		// headers themselves, excluded above.
		roundTrip(t, p, s)
		if errorsCounted(s, h) != 0 {
			t.Fatalf("k=%q v=%q w=%q: %s", k, v, w, s.LogText())
		}
	})
}

// FuzzBody drives the buffer API (body(), length, getBytes, setBytes) with arbitrary bodies
// and ranges: a range error must be Envoy's message, everything else must hold.
func FuzzBody(f *testing.F) {
	f.Add([]byte("hello body"), 0, 5, "new")
	f.Add([]byte(""), 0, 0, "")
	f.Add([]byte("\x00\xff"), 1, 1, "\x00")
	f.Add([]byte("abc"), -1, 2, "x")
	f.Add([]byte("abc"), 2, 5, "y")
	p, h := load(f, `
function envoy_on_request(r)
  local hd = r:headers()
  local i, n, repl = tonumber(hd:get("fuzz-i")), tonumber(hd:get("fuzz-n")), hd:get("fuzz-r")
  local b = r:body(true)
  local len = b:length()
  local ok, got = pcall(b.getBytes, b, i, n)
  if i >= 0 and n >= 0 and i + n <= len then
    assert(ok and #got == n, "in-range getBytes")
  else
    assert(not ok and tostring(got):find("index/length must be >= 0 and %(index %+ length%) must be <= buffer size"), tostring(got))
  end
  assert(b:setBytes(repl) == #repl, "setBytes returns the new length")
  assert(b:length() == #repl and b:getBytes(0, #repl) == repl, "setBytes content")
  assert(r:headers():get("content-length") == tostring(#repl), "content-length follows")
end`, Options{CallTimeout: time.Second})
	f.Fuzz(func(t *testing.T, body []byte, i, n int, repl string) {
		s := newStream()
		s.ReqBody = &fakeBuffer{Data: body}
		s.ReqH.Add("fuzz-i", strconv.Itoa(i))
		s.ReqH.Add("fuzz-n", strconv.Itoa(n))
		s.ReqH.Add("fuzz-r", repl)
		fl := p.NewFilter(s)
		defer fl.OnDestroy()
		fl.OnRequestHeaders(false)
		fl.OnRequestBody(true)
		if errorsCounted(s, h) != 0 {
			t.Fatalf("body=%q i=%d n=%d r=%q: %s", body, i, n, repl, s.LogText())
		}
	})
}
