package core

import (
	"errors"
	"strings"
	"testing"

	"github.com/trafficext/trafficext/extconfig"
)

// fakeHost records metrics and logs.
type fakeHost struct {
	names []string
	logs  []string
}

func (h *fakeHost) define(name string) (MetricID, error) {
	h.names = append(h.names, name)
	return MetricID(len(h.names) - 1), nil
}
func (h *fakeHost) DefineCounter(n string) (MetricID, error)   { return h.define(n) }
func (h *fakeHost) DefineGauge(n string) (MetricID, error)     { return h.define(n) }
func (h *fakeHost) DefineHistogram(n string) (MetricID, error) { return h.define(n) }
func (h *fakeHost) Log(_ LogLevel, m string)                   { h.logs = append(h.logs, m) }

// fakeStream is a minimal Stream for the handler's own logic.
type fakeStream struct {
	Stream                  // nil: methods the handler does not use panic if called
	host                    *fakeHost
	reqHdr                  map[string]string
	reply                   *LocalReply
	counts                  map[string]uint64
	posted                  []func()
	resumedReq, resumedResp int
}

type hdrs map[string]string

func (h hdrs) Get(k string) (string, bool) { v, ok := h[k]; return v, ok }
func (h hdrs) Values(k string) []string    { return nil }
func (h hdrs) All() []Header               { return nil }
func (h hdrs) Len() int                    { return len(h) }
func (h hdrs) Set(k, v string)             { h[k] = v }
func (h hdrs) Add(k, v string)             { h[k] = v }
func (h hdrs) Remove(k string)             { delete(h, k) }

func (s *fakeStream) RequestHeaders() HeaderMap     { return hdrs(s.reqHdr) }
func (s *fakeStream) SendLocalReply(r LocalReply)   { s.reply = &r }
func (s *fakeStream) Log(LogLevel, string)          {}
func (s *fakeStream) Counter(id MetricID, d uint64) { s.counts[s.host.names[id]] += d }
func (s *fakeStream) Post(fn func())                { s.posted = append(s.posted, fn) }
func (s *fakeStream) ContinueRequest()              { s.resumedReq++ }
func (s *fakeStream) ContinueResponse()             { s.resumedResp++ }

// scriptedEngine runs Go functions as the "extension".
type scriptedEngine struct {
	loadErr error
	filter  func(s Stream) Filter
}

func (e *scriptedEngine) Kind() string { return "lua" }
func (e *scriptedEngine) Load(*extconfig.Extension, ConfigHost) (Plugin, error) {
	if e.loadErr != nil {
		return nil, e.loadErr
	}
	return plugin{e}, nil
}

type plugin struct{ e *scriptedEngine }

func (p plugin) NewFilter(s Stream) Filter { return p.e.filter(s) }
func (p plugin) Close()                    {}

// funcFilter calls onReq on request headers; every other event continues.
type funcFilter struct{ onReq func() Status }

func (f funcFilter) OnRequestHeaders(bool) Status  { return f.onReq() }
func (f funcFilter) OnRequestBody(bool) Status     { return Continue }
func (f funcFilter) OnRequestTrailers() Status     { return Continue }
func (f funcFilter) OnResponseHeaders(bool) Status { return Continue }
func (f funcFilter) OnResponseBody(bool) Status    { return Continue }
func (f funcFilter) OnResponseTrailers() Status    { return Continue }
func (f funcFilter) OnStreamComplete()             {}
func (f funcFilter) OnDestroy()                    {}

const extName = "extensions.istio.io/trafficextension/ns.ext"

func config(t *testing.T, rt *Runtime, e *extconfig.Extension) (*Config, *fakeHost) {
	t.Helper()
	raw, err := extconfig.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	h := &fakeHost{}
	c, err := rt.NewConfig("", raw, h)
	if err != nil {
		t.Fatal(err)
	}
	return c, h
}

func luaExt(strategy extconfig.FailStrategy) *extconfig.Extension {
	return &extconfig.Extension{Name: extName, FailStrategy: strategy, Lua: &extconfig.Lua{InlineCode: "x"}}
}

func newStream(h *fakeHost, headers map[string]string) *fakeStream {
	if headers == nil {
		headers = map[string]string{}
	}
	return &fakeStream{host: h, reqHdr: headers, counts: map[string]uint64{}}
}

func TestNewConfig_Errors(t *testing.T) {
	rt := NewRuntime([]Engine{&scriptedEngine{loadErr: errors.New("boom")}})
	raw, _ := extconfig.Marshal(luaExt(""))
	tests := []struct {
		name, filter string
		raw          []byte
		rt           *Runtime
		want         string
	}{
		{"bad message", "", []byte("{"), rt, "decoding extension config"},
		{"engine error", "", raw, rt, `loading extension "` + extName + `": boom`},
		{"no engine", "", raw, NewRuntime(nil), "no lua engine in this build"},
		{"name mismatch", "other", raw, rt, `config names extension "` + extName + `"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.rt.NewConfig(tt.filter, tt.raw, &fakeHost{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestStatPrefix(t *testing.T) {
	if got := StatPrefix(extName); got != "trafficext.ns.ext." {
		t.Errorf("StatPrefix = %q", got)
	}
}

func TestHandler_PanicFailStrategy(t *testing.T) {
	tests := []struct {
		strategy   extconfig.FailStrategy
		wantStatus Status
		wantReply  bool
		wantCount  string
	}{
		{"", Replied, true, "fail_close"},
		{extconfig.FailClose, Replied, true, "fail_close"},
		{extconfig.FailReload, Replied, true, "fail_close"},
		{extconfig.FailOpen, Continue, false, "fail_open"},
	}
	for _, tt := range tests {
		t.Run(string(tt.strategy), func(t *testing.T) {
			calls := 0
			eng := &scriptedEngine{filter: func(Stream) Filter {
				return funcFilter{onReq: func() Status { calls++; panic("bug") }}
			}}
			c, h := config(t, NewRuntime([]Engine{eng}), luaExt(tt.strategy))
			s := newStream(h, nil)
			hd := c.NewStream(s)
			if got := hd.RequestHeaders(false); got != tt.wantStatus {
				t.Fatalf("status = %v, want %v", got, tt.wantStatus)
			}
			if (s.reply != nil) != tt.wantReply {
				t.Fatalf("reply = %+v, want reply %v", s.reply, tt.wantReply)
			}
			if tt.wantReply && (s.reply.Status != 500 || !strings.Contains(string(s.reply.Body), extName)) {
				t.Errorf("reply = %d %q", s.reply.Status, s.reply.Body)
			}
			if s.counts["trafficext.ns.ext.panic"] != 1 || s.counts["trafficext.ns.ext."+tt.wantCount] != 1 {
				t.Errorf("counters = %v", s.counts)
			}
			// The extension is skipped for the rest of the stream.
			if got := hd.ResponseHeaders(false); got != Continue || calls != 1 {
				t.Errorf("after the fault: status %v, calls %d", got, calls)
			}
		})
	}
}

func TestHandler_PanicInNewFilter(t *testing.T) {
	eng := &scriptedEngine{filter: func(Stream) Filter { panic("no filter") }}
	c, h := config(t, NewRuntime([]Engine{eng}), luaExt(""))
	s := newStream(h, nil)
	if got := c.NewStream(s).RequestHeaders(true); got != Replied || s.reply == nil || s.reply.Status != 500 {
		t.Fatalf("status %v reply %+v", got, s.reply)
	}
}

func TestHandler_PanicInPostedWork(t *testing.T) {
	for _, tt := range []struct {
		strategy   extconfig.FailStrategy
		wantReply  bool
		wantResume int
	}{{extconfig.FailClose, true, 0}, {extconfig.FailOpen, false, 1}} {
		t.Run(string(tt.strategy), func(t *testing.T) {
			eng := &scriptedEngine{filter: func(s Stream) Filter {
				return funcFilter{onReq: func() Status {
					s.Post(func() { panic("async bug") })
					return StopIteration
				}}
			}}
			c, h := config(t, NewRuntime([]Engine{eng}), luaExt(tt.strategy))
			s := newStream(h, nil)
			if got := c.NewStream(s).RequestHeaders(false); got != StopIteration {
				t.Fatalf("status %v", got)
			}
			s.posted[0]() // the host runs the posted work later
			if (s.reply != nil) != tt.wantReply || s.resumedReq != tt.wantResume {
				t.Fatalf("reply %+v resumed %d", s.reply, s.resumedReq)
			}
		})
	}
}

func TestHandler_DenySlot(t *testing.T) {
	c, h := config(t, NewRuntime(nil), &extconfig.Extension{Name: extName, Deny: &extconfig.Deny{Status: 403, Body: "unavailable"}})
	s := newStream(h, nil)
	if got := c.NewStream(s).RequestHeaders(true); got != Replied {
		t.Fatalf("status %v", got)
	}
	if s.reply.Status != 403 || string(s.reply.Body) != "unavailable" || s.counts["trafficext.ns.ext.denied"] != 1 {
		t.Fatalf("reply %+v counts %v", s.reply, s.counts)
	}
}

func TestFaultInjection(t *testing.T) {
	f, err := ParseFaultInjection("panic-header=X-Panic")
	if err != nil {
		t.Fatal(err)
	}
	eng := &scriptedEngine{filter: func(Stream) Filter { return funcFilter{onReq: func() Status { return Continue }} }}
	rt := NewRuntime([]Engine{eng}, WithFaultInjection(f))
	for _, tt := range []struct {
		header string
		panics bool
	}{{"", false}, {"ns.ext", true}, {extName, true}, {"ns.other", false}} {
		c, h := config(t, rt, luaExt(""))
		hdr := map[string]string{}
		if tt.header != "" {
			hdr["x-panic"] = tt.header
		}
		s := newStream(h, hdr)
		got := c.NewStream(s).RequestHeaders(true)
		if (got == Replied) != tt.panics {
			t.Errorf("header %q: status %v, want panic %v", tt.header, got, tt.panics)
		}
	}
	for _, bad := range []string{"panic-header", "panic-header=", "other=x"} {
		if _, err := ParseFaultInjection(bad); err == nil {
			t.Errorf("ParseFaultInjection(%q) accepted", bad)
		}
	}
}
