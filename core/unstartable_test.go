package core

import (
	"errors"
	"strings"
	"testing"

	"github.com/trafficext/trafficext/extconfig"
)

// wasmEngine is a "wasm" engine whose Load fails while fail is set.
type wasmEngine struct {
	fail   error
	closed int
}

func (e *wasmEngine) Kind() string { return "wasm" }
func (e *wasmEngine) Load(*extconfig.Extension, ConfigHost) (Plugin, error) {
	if e.fail != nil {
		return nil, e.fail
	}
	return closingPlugin{e}, nil
}

type closingPlugin struct{ e *wasmEngine }

func (p closingPlugin) NewFilter(Stream) Filter {
	return funcFilter{onReq: func() Status { return Continue }}
}
func (p closingPlugin) Close() { p.e.closed++ }

func wasmExtension(fs extconfig.FailStrategy, gen string) []byte {
	raw, _ := extconfig.Marshal(&extconfig.Extension{Name: extName, Generation: gen, FailStrategy: fs,
		Wasm: &extconfig.Wasm{Path: "/m.wasm", SHA256: strings.Repeat("a", 64)}})
	return raw
}

// A Wasm configuration whose VM does not start applies the fail strategy when no earlier
// configuration of the extension is live, and is rejected (the earlier one keeps serving)
// when one is.
func TestNewConfig_WasmVMDoesNotStart(t *testing.T) {
	cause := errors.New("proxy_on_configure returned false")
	for _, tc := range []struct {
		fail    extconfig.FailStrategy
		status  Status
		reply   int
		counter string
	}{
		{extconfig.FailOpen, Continue, 0, "fail_open"},
		{extconfig.FailClose, Replied, 403, "denied"},
		{extconfig.FailReload, Replied, 403, "denied"},
	} {
		t.Run(string(tc.fail), func(t *testing.T) {
			eng := &wasmEngine{fail: cause}
			rt := NewRuntime([]Engine{eng})
			h := &fakeHost{}
			c, err := rt.NewConfig("", wasmExtension(tc.fail, "1"), h)
			if err != nil {
				t.Fatalf("NewConfig: %v", err)
			}
			if !errors.Is(c.StartError(), cause) {
				t.Fatalf("StartError = %v", c.StartError())
			}
			if len(h.logs) != 1 || !strings.Contains(h.logs[0], "the Wasm VM does not start") || !strings.Contains(h.logs[0], cause.Error()) {
				t.Fatalf("logs %q", h.logs)
			}
			for i := range 2 {
				s := newStream(h, nil)
				sh := c.NewStream(s)
				if got := sh.RequestHeaders(true); got != tc.status {
					t.Fatalf("request %d: status %v, want %v", i, got, tc.status)
				}
				if (s.reply == nil) != (tc.reply == 0) || (s.reply != nil && (s.reply.Status != tc.reply || s.reply.Details != "trafficext_extension_unavailable" || len(s.reply.Body) != 0)) {
					t.Fatalf("reply %+v, want %d", s.reply, tc.reply)
				}
				if s.counts["trafficext.ns.ext.start_failed"] != 1 || s.counts["trafficext.ns.ext."+tc.counter] != 1 {
					t.Fatalf("counts %v", s.counts)
				}
				sh.Destroy()
			}
			if len(h.logs) != 1 {
				t.Fatalf("the reason was logged again: %q", h.logs)
			}

			// Now a good version loads; a failing one after it is rejected, as Envoy then keeps
			// the good one serving.
			eng.fail = nil
			good, err := rt.NewConfig("", wasmExtension(tc.fail, "2"), &fakeHost{})
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
			eng.fail = cause
			if _, err := rt.NewConfig("", wasmExtension(tc.fail, "3"), &fakeHost{}); err == nil || !errors.Is(err, cause) {
				t.Fatalf("with a live configuration: err = %v, want the cause", err)
			}
			// Once it is gone, a failing version applies the fail strategy again.
			good.Close()
			good.Close()
			if eng.closed != 1 {
				t.Fatalf("plugin closed %d times", eng.closed)
			}
			if c, err := rt.NewConfig("", wasmExtension(tc.fail, "4"), &fakeHost{}); err != nil || c.StartError() == nil {
				t.Fatalf("after the live configuration closed: %v %v", c, err)
			}
		})
	}
}
