package golang

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/trafficext/trafficext/core"
	"github.com/trafficext/trafficext/extconfig"
	"github.com/trafficext/trafficext/host/contract"
)

// oneExtension runs a request through one extension with behaviour mk.
func oneExtension(t *testing.T, fail extconfig.FailStrategy, c contract.Case, mk func(core.Stream) *funcFilter) (chainResult, *harness) {
	t.Helper()
	e := newFuncEngine()
	c.Extensions = []extconfig.Extension{e.register(strings.ReplaceAll(t.Name(), "/", "-"), fail, mk)}
	h := newHarness(t, []core.Engine{e})
	return h.run(c), h
}

func TestStream_Post_ResumesHeldRequest(t *testing.T) {
	r, _ := oneExtension(t, "", contract.Case{}, func(s core.Stream) *funcFilter {
		return &funcFilter{reqHeaders: func(bool) core.Status {
			s.Post(func() {
				s.RequestHeaders().Set("x-async", "1")
				s.Post(func() { // posted functions run in order, after the one that posts
					s.RequestHeaders().Add("x-async", "2")
					s.ContinueRequest()
				})
			})
			return core.StopIteration
		}}
	})
	contract.Check(t, contract.Case{Expect: contract.Expect{
		Status: 200, UpstreamReached: true, UpstreamHeaders: map[string]string{"x-async": "1,2"},
	}}, r.Result)
}

func TestStream_Post_LocalReplyFromHeldRequest(t *testing.T) {
	r, _ := oneExtension(t, "", contract.Case{}, func(s core.Stream) *funcFilter {
		return &funcFilter{reqHeaders: func(bool) core.Status {
			s.Post(func() {
				s.SendLocalReply(core.LocalReply{Status: 401, Body: []byte("who are you"), Headers: []core.Header{{Key: "X-Auth", Value: "no"}}})
			})
			return core.StopIteration
		}}
	})
	contract.Check(t, contract.Case{Expect: contract.Expect{
		Status: 401, UpstreamReached: false, BodyContains: "who are you",
		ResponseHeaders: map[string]string{"x-auth": "no"},
	}}, r.Result)
}

func TestStream_Post_ResponseDirection(t *testing.T) {
	r, _ := oneExtension(t, "", contract.Case{}, func(s core.Stream) *funcFilter {
		return &funcFilter{respHeaders: func(bool) core.Status {
			s.Post(func() {
				s.ResponseHeaders().Set("x-late", "yes")
				s.ContinueResponse()
			})
			return core.StopIteration
		}}
	})
	contract.Check(t, contract.Case{Expect: contract.Expect{
		Status: 200, UpstreamReached: true, ResponseHeaders: map[string]string{"x-late": "yes"},
	}}, r.Result)
}

func TestStream_Post_PanicAppliesFailStrategy(t *testing.T) {
	for _, tt := range []struct {
		fail    extconfig.FailStrategy
		status  int
		reached bool
	}{{extconfig.FailClose, 500, false}, {extconfig.FailOpen, 200, true}} {
		t.Run(string(tt.fail), func(t *testing.T) {
			r, h := oneExtension(t, tt.fail, contract.Case{}, func(s core.Stream) *funcFilter {
				return &funcFilter{reqHeaders: func(bool) core.Status {
					s.Post(func() { panic("posted boom") })
					return core.StopIteration
				}}
			})
			contract.Check(t, contract.Case{Expect: contract.Expect{Status: tt.status, UpstreamReached: tt.reached}}, r.Result)
			name := core.StatPrefix(contract.NamePrefix+strings.ReplaceAll(t.Name(), "/", "-")) + "panic"
			if got := h.callbacks.value(name); got != 1 {
				t.Errorf("counter %s = %d, want 1", name, got)
			}
		})
	}
}

func TestStream_ContinueDuringEventIsNotAHold(t *testing.T) {
	r, _ := oneExtension(t, "", contract.Case{}, func(s core.Stream) *funcFilter {
		return &funcFilter{reqHeaders: func(bool) core.Status {
			s.ContinueRequest() // resumed before the event even returned
			return core.StopIteration
		}}
	})
	contract.Check(t, contract.Case{Expect: contract.Expect{Status: 200, UpstreamReached: true}}, r.Result)
}

func TestStream_StopAndBuffer_BodyAndHeaders(t *testing.T) {
	c := contract.Case{Request: contract.Request{Method: "POST", Body: "hello"}}
	r, _ := oneExtension(t, "", c, func(s core.Stream) *funcFilter {
		return &funcFilter{
			reqHeaders: func(end bool) core.Status {
				if end {
					t.Error("request headers with endStream, want a body")
				}
				return core.StopAndBuffer
			},
			reqBody: func(end bool) core.Status {
				b := s.RequestBody()
				if b == nil {
					t.Fatal("RequestBody() = nil in the data event")
				}
				body := b.Bytes()
				b.Set(bytes.ToUpper(body))
				b.Append([]byte("!"))
				// headers are still writable: the golang filter has not continued them
				s.RequestHeaders().Set("x-body-len", fmt.Sprint(len(body)))
				return core.Continue
			},
			respHeaders: func(bool) core.Status {
				if s.RequestBody() != nil {
					t.Error("RequestBody() outside the request's data event, want nil")
				}
				return core.Continue
			},
		}
	})
	contract.Check(t, contract.Case{Expect: contract.Expect{
		Status: 200, UpstreamReached: true, BodyContains: "HELLO!",
		UpstreamHeaders: map[string]string{"x-body-len": "5"},
	}}, r.Result)
}

func TestStream_RequestHeadersAfterTheirPhase(t *testing.T) {
	c := contract.Case{Request: contract.Request{Path: "/some/where", Headers: []contract.Header{{Name: "b", Value: "2"}, {Name: "a", Value: "1"}}}}
	r, _ := oneExtension(t, "", c, func(s core.Stream) *funcFilter {
		return &funcFilter{respHeaders: func(bool) core.Status {
			req := s.RequestHeaders()
			path, _ := req.Get(":path")
			req.Set("x-too-late", "dropped") // the request is gone: dropped, no panic
			var keys []string
			for _, h := range req.All() {
				keys = append(keys, h.Key)
			}
			s.ResponseHeaders().Set("x-path", path)
			s.ResponseHeaders().Set("x-keys", strings.Join(keys, " "))
			s.ResponseHeaders().Set("x-len", fmt.Sprint(req.Len()))
			return core.Continue
		}}
	})
	contract.Check(t, contract.Case{Expect: contract.Expect{
		Status: 200, UpstreamReached: true,
		ResponseHeaders: map[string]string{
			"x-path": "/some/where",
			"x-keys": ":method :scheme :authority :path a b",
			"x-len":  "6",
		},
		AbsentUpstreamHeaders: []string{"x-too-late"},
	}}, r.Result)
}

func TestStream_MetadataFilterStateAttributes(t *testing.T) {
	got := map[string]any{}
	r, _ := oneExtension(t, "", contract.Case{Request: contract.Request{Path: "/attr"}}, func(s core.Stream) *funcFilter {
		return &funcFilter{reqHeaders: func(bool) core.Status {
			md := s.DynamicMetadata()
			got["set"] = md.Set("ns", "k", "v")
			got["set-number"] = md.Set("ns", "n", 2.5)
			got["set-bad"] = md.Set("ns", "bad", struct{}{})
			got["get"], _ = md.Get("ns", "k")
			ns, ok, err := md.Namespace("ns")
			got["ns"], got["ns-ok"], got["ns-err"] = len(ns), ok, err
			_, got["missing-ns-ok"], _ = md.Namespace("nope")
			_, _, got["route-ns-err"] = s.RouteMetadata().Namespace("x")

			fs := s.FilterState()
			got["fs-set"] = fs.Set("fs.key", []byte("fsv"))
			v, _ := fs.Get("fs.key")
			got["fs-get"] = string(v)
			_, got["fs-missing"] = fs.Get("fs.none")

			got["path"], _ = s.Attribute("request.path")
			got["port"], _ = s.Attribute("source.port")
			_, got["unknown-ok"] = s.Attribute("no.such.attribute")
			got["http-call"] = s.HTTPCall(core.CalloutRequest{Cluster: "c"}, func(core.CalloutResponse) {})
			return core.Continue
		}}
	})
	if r.Status != 200 {
		t.Fatalf("status %d", r.Status)
	}
	want := map[string]any{
		"set": nil, "set-number": nil, "get": "v", "ns": 2, "ns-ok": true, "ns-err": nil,
		"missing-ns-ok": false, "fs-set": nil, "fs-get": "fsv", "fs-missing": false,
		"path": "/attr", "port": int64(52000), "unknown-ok": false,
	}
	for k, w := range want {
		if g := got[k]; g != w {
			t.Errorf("%s = %#v, want %#v", k, g, w)
		}
	}
	for _, k := range []string{"set-bad", "route-ns-err", "http-call"} {
		if err, _ := got[k].(error); !errors.Is(err, core.ErrUnsupported) {
			t.Errorf("%s = %v, want core.ErrUnsupported", k, got[k])
		}
	}
}

func TestStream_LocalReplyWithWrongStatusStillReplies(t *testing.T) {
	r, _ := oneExtension(t, "", contract.Case{}, func(s core.Stream) *funcFilter {
		return &funcFilter{reqHeaders: func(bool) core.Status {
			s.SendLocalReply(core.LocalReply{Status: 429, Body: []byte("slow down")})
			return core.Continue // wrong, but the binding must still answer LocalReply
		}}
	})
	contract.Check(t, contract.Case{Expect: contract.Expect{Status: 429, BodyContains: "slow down"}}, r.Result)
}

func TestStream_LogsAndMetrics(t *testing.T) {
	var ids [3]core.MetricID
	e := newFuncEngine()
	ext := e.register("metrics", "", func(s core.Stream) *funcFilter {
		return &funcFilter{reqHeaders: func(bool) core.Status {
			s.Log(core.LogInfo, "hello from the extension")
			if !s.LogEnabled(core.LogDebug) || s.LogEnabled(core.LogTrace) {
				t.Error("LogEnabled does not follow the callbacks' level (debug)")
			}
			s.Counter(ids[0], 3)
			s.Gauge(ids[1], -2)
			s.Histogram(ids[2], 7) // dropped
			s.Counter(0, 1)        // unknown id: no-op
			return core.Continue
		}}
	})
	h := newHarness(t, []core.Engine{&definingEngine{funcEngine: e, ids: &ids}})
	r := h.run(contract.Case{Extensions: []extconfig.Extension{ext}})
	if r.Status != 200 {
		t.Fatalf("status %d", r.Status)
	}
	if got := h.callbacks.value("custom_counter"); got != 3 {
		t.Errorf("custom_counter = %d, want 3", got)
	}
	if got := int64(h.callbacks.value("custom_gauge")); got != -2 {
		t.Errorf("custom_gauge = %d, want -2", got)
	}
	if !strings.Contains(strings.Join(r.req.filterLogs, "\n"), "hello from the extension") {
		t.Errorf("filter logs %q lack the extension's line", r.req.filterLogs)
	}
	if !packageLog.contains("trafficext: loaded lua extension") {
		t.Errorf("config-time log not written through api.Log*")
	}
}

// definingEngine defines metrics while loading, as engines do.
type definingEngine struct {
	*funcEngine
	ids *[3]core.MetricID
}

func (e *definingEngine) Load(ext *extconfig.Extension, host core.ConfigHost) (core.Plugin, error) {
	var err error
	if e.ids[0], err = host.DefineCounter("custom_counter"); err != nil {
		return nil, err
	}
	if e.ids[1], err = host.DefineGauge("custom_gauge"); err != nil {
		return nil, err
	}
	if e.ids[2], err = host.DefineHistogram("custom_histogram"); err != nil {
		return nil, err
	}
	return e.funcEngine.Load(ext, host)
}

func TestStream_Settle(t *testing.T) {
	tests := []struct {
		core    core.Status
		ph      phase
		end     bool
		posted  bool
		want    api.StatusType
		holding bool
	}{
		{core.Continue, headersPhase, false, false, api.Continue, false},
		{core.Continue, dataPhase, true, true, api.Continue, false},
		// waiting for the body: the golang filter buffers it and delivers it whole
		{core.StopIteration, headersPhase, false, false, api.StopAndBuffer, false},
		{core.StopAndBuffer, headersPhase, false, false, api.StopAndBuffer, false},
		{core.StopAndBuffer, dataPhase, false, false, api.StopAndBuffer, false},
		{core.StopIteration, dataPhase, false, false, api.StopAndBufferWatermark, false},
		// asynchronous work pending, or nothing more to come: Go holds the direction
		{core.StopIteration, headersPhase, false, true, api.Running, true},
		{core.StopAndBuffer, dataPhase, false, true, api.Running, true},
		{core.StopIteration, headersPhase, true, false, api.Running, true},
		{core.StopAndBuffer, headersPhase, true, false, api.Running, true},
		{core.StopIteration, dataPhase, true, false, api.Running, true},
		{core.StopAndBuffer, dataPhase, true, false, api.Running, true},
		{core.StopAndBuffer, trailersPhase, true, false, api.Running, true},
		{core.StopIteration, trailersPhase, true, false, api.Running, true},
		{core.Status(42), headersPhase, false, false, api.Continue, false},
	}
	e := newFuncEngine()
	h := newHarness(t, []core.Engine{e})
	cfg, err := h.p.Parse(stringConfig(t, e.register("settle", "", nil)), h.callbacks)
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.(*configHandle).Destroy()
	for _, tt := range tests {
		s := &stream{cfg: cfg.(*configHandle).c, cb: fakeCallbacks{&slot{req: &fakeRequest{t: t}}}}
		s.posted.Store(tt.posted)
		if got := s.settle(decoding, tt.ph, tt.end, tt.core); got != tt.want || s.held[decoding] != tt.holding {
			t.Errorf("settle(%v, phase %d, end %v, posted %v) = %d held %v, want %d held %v", tt.core, tt.ph, tt.end, tt.posted, got, s.held[decoding], tt.want, tt.holding)
		}
	}
}
