package lua

import (
	"fmt"
	"testing"
	"time"
)

// apiCalls are the per-call micro-benchmarks: each expression runs 1000 times in the request
// hook (locals h = handle, hs = headers, si = streamInfo, dm = dynamicMetadata, b = a 1 KiB
// body buffer), and the reported ns/call is the hook's time minus the same loop with an empty
// body, divided by 1000.
var apiCalls = []struct{ name, expr string }{
	{"headers", "h:headers()"},
	{"headers:get", `hs:get("x-number")`},
	{"headers:get(absent)", `hs:get("x-absent")`},
	{"headers:getAtIndex", `hs:getAtIndex("x-number", 0)`},
	{"headers:getNumValues", `hs:getNumValues("x-number")`},
	{"headers:add+remove", `hs:add("x-bench", "v") hs:remove("x-bench")`},
	{"headers:replace", `hs:replace("x-bench", "v")`},
	{"pairs(headers)", `for k, v in pairs(hs) do end`},
	{"streamInfo", "h:streamInfo()"},
	{"streamInfo:protocol", "si:protocol()"},
	{"streamInfo:downstreamRemoteAddress", "si:downstreamRemoteAddress()"},
	{"dynamicMetadata:set", `dm:set("bench.ns", "k", "v")`},
	{"dynamicMetadata:get", `dm:get("bench.ns")`},
	{"metadata:get", `h:metadata():get("k")`},
	{"body:length", "b:length()"},
	{"body:getBytes(0,64)", "b:getBytes(0, 64)"},
	{"body:setBytes(64B)", `b:setBytes(s64)`},
	{"timestamp", "h:timestamp()"},
	{"timestampString", "h:timestampString()"},
	{"base64Escape(64B)", "h:base64Escape(s64)"},
	{"logDebug(disabled)", `h:logDebug("x")`},
	{"string.format", `string.format("%s=%d", "k", 7)`},
	{"string.find(plain)", `s64:find("b", 1, true)`},
	{"string.find(pattern)", `hv:find("^(%w+)/(%d+)")`},
	{"string.match", `hv:match("(%d+)%.(%d+)")`},
	{"string.gsub", `hv:gsub("%d", "#")`},
	{"gmatch", `for w in hv:gmatch("%a+") do end`},
	{"string.upper(64B)", `s64:upper()`},
	{"string.rep(64x4)", `string.rep(s64, 4)`},
	{"table.concat(8)", `table.concat(t8, ",")`},
	{"table.insert+remove", `table.insert(t8, 1, "x") table.remove(t8, 1)`},
	{"table.sort(8)", `table.sort(t8)`},
}

func BenchmarkAPI(b *testing.B) {
	const loop = 1000
	script := func(expr string) string {
		return fmt.Sprintf(`
local s64 = string.rep("a", 64)
local hv = "Mozilla/5.0 (X11; Linux x86_64) curl/8.4.0 build 1234"
local t8 = {"h", "g", "f", "e", "d", "c", "b", "a"}
function envoy_on_request(h)
  local b = h:body()
  local hs, si = h:headers(), h:streamInfo()
  local dm = si:dynamicMetadata()
  dm:set("bench.ns", "k", "v")
  for i = 1, %d do %s end
end`, loop, expr)
	}
	run := func(b *testing.B, p *plugin, n int) time.Duration {
		s := newStream()
		s.LogMin = 99 // logs disabled
		s.ReqH.Add("x-number", "7")
		s.ReqBody = &fakeBuffer{Data: make([]byte, 1024)}
		start := time.Now()
		for i := 0; i < n; i++ {
			s.ReqBody.Data = s.ReqBody.Data[:1024]
			f := p.NewFilter(s)
			f.OnRequestHeaders(false)
			f.OnRequestBody(true)
			f.OnDestroy()
		}
		return time.Since(start)
	}
	base, _ := load(b, script(""), Options{CallTimeout: time.Second})
	for _, c := range apiCalls {
		b.Run(c.name, func(b *testing.B) {
			p, h := load(b, script(c.expr), Options{CallTimeout: time.Second})
			b.ReportAllocs()
			b.ResetTimer()
			el := run(b, p, b.N)
			b.StopTimer()
			bl := run(b, base, b.N)
			b.ReportMetric(float64(el-bl)/float64(b.N)/loop, "ns/call")
			s := newStream()
			s.ReqBody = &fakeBuffer{Data: make([]byte, 1024)}
			f := p.NewFilter(s)
			f.OnRequestHeaders(false)
			f.OnRequestBody(true)
			f.OnDestroy()
			if errorsCounted(s, h) != 0 {
				b.Fatalf("%s: %s", c.name, s.LogText())
			}
		})
	}
}
