package wasm

import (
	"context"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// memoryModule is a module with one page of memory and nothing else, for host functions
// that read their arguments from guest memory.
func memoryModule(t *testing.T) api.Module {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	t.Cleanup(func() { rt.Close(ctx) })
	m, err := rt.Instantiate(ctx, []byte{0, 'a', 's', 'm', 1, 0, 0, 0, 5, 3, 1, 0, 1})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestStreamReachable_OffWorker: a call off the worker (a tick, queue or gateway callback that
// switched to a stream context) reaches a direction's maps and body only while that direction
// is paused at the plugin, and the stream's attributes while either is; otherwise they answer
// as unavailable: reads NOT_FOUND, header map and body writes BAD_ARGUMENT, set_property
// NOT_FOUND. A call on the worker always reaches them.
func TestStreamReachable_OffWorker(t *testing.T) {
	m := memoryModule(t)
	m.Memory().Write(0, []byte("x")) // a one-byte value at 0 for writes
	for _, tc := range []struct {
		name                  string
		offWorker             bool
		reqPaused, respPaused bool
		req, resp, attrs      bool // reachable
	}{
		{"on worker", false, false, false, true, true, true},
		{"off worker, nothing paused", true, false, false, false, false, false},
		{"off worker, request paused", true, true, false, true, false, true},
		{"off worker, response paused", true, false, true, false, true, true},
		{"off worker, both paused", true, true, true, true, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := propsStream()
			s.ReqBody.Data = []byte("req")
			s.RespBody.Data = []byte("resp")
			v := propsVM(s, cbNone)
			f := v.cur.filter
			f.reqPaused, f.respPaused = tc.reqPaused, tc.respPaused
			f.reqHeadersPaused, f.respHeadersPaused = tc.reqPaused, tc.respPaused
			v.cur.offWorker = tc.offWorker

			want := func(ok bool, okSt, unavailable status) status {
				if ok {
					return okSt
				}
				return unavailable
			}
			for _, c := range []struct {
				what   string
				reach  bool
				mt, bt uint32
			}{{"request", tc.req, mapRequestHeaders, bufferRequestBody}, {"response", tc.resp, mapResponseHeaders, bufferResponseBody}} {
				if _, _, st := v.headerMap(c.mt); st != want(c.reach, statusOK, statusNotFound) {
					t.Errorf("%s headers read: %v", c.what, st)
				}
				if st := hostReplaceHeaderMapValue(context.Background(), v, m, []uint32{c.mt, 0, 1, 0, 1}); st != want(c.reach, statusOK, statusBadArgument) {
					t.Errorf("%s headers write: %v", c.what, st)
				}
				if _, _, st := v.buffer(c.bt); st != want(c.reach, statusOK, statusNotFound) {
					t.Errorf("%s body read: %v", c.what, st)
				}
				if st := hostSetBufferBytes(context.Background(), v, m, []uint32{c.bt, 0, 0, 0, 1}); st != want(c.reach, statusOK, statusBadArgument) {
					t.Errorf("%s body write: %v", c.what, st)
				}
			}
			if _, st := v.property("source\x00port"); st != want(tc.attrs, statusOK, statusNotFound) {
				t.Errorf("property source.port: %v", st)
			}
			if _, st := v.property("plugin_name"); st != statusOK {
				t.Errorf("property plugin_name: %v", st)
			}
			if st := v.setProperty("p", []byte("v")); st != want(tc.attrs, statusOK, statusNotFound) {
				t.Errorf("set_property: %v", st)
			}
			if got := v.stream() != nil; got != !tc.offWorker {
				t.Errorf("metrics through the stream: %v", got)
			}
			// Nothing unreachable was changed.
			if !tc.req {
				if _, ok := s.ReqH.Get("x"); ok || string(s.ReqBody.Data) != "req" {
					t.Errorf("request changed: %v %q", s.ReqH.All(), s.ReqBody.Data)
				}
			}
			if !tc.resp {
				if _, ok := s.RespH.Get("x"); ok || string(s.RespBody.Data) != "resp" {
					t.Errorf("response changed: %v %q", s.RespH.All(), s.RespBody.Data)
				}
			}
		})
	}
}
