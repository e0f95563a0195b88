package golang

import (
	"strings"
	"testing"

	xdstype "github.com/cncf/xds/go/xds/type/v3"
	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/trafficext/trafficext/core"
	"github.com/trafficext/trafficext/extconfig"
)

func mustAny(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestPlugin_Parse_Formats(t *testing.T) {
	e := newFuncEngine()
	ext := e.register("parse", "", nil)
	raw, err := extconfig.Marshal(&ext)
	if err != nil {
		t.Fatal(err)
	}
	typed := func(fields map[string]any) *anypb.Any {
		s, err := structpb.NewStruct(fields)
		if err != nil {
			t.Fatal(err)
		}
		return mustAny(t, &xdstype.TypedStruct{TypeUrl: "trafficext", Value: s})
	}
	tests := []struct {
		name    string
		msg     *anypb.Any
		wantErr string
	}{
		{"string value", mustAny(t, wrapperspb.String(string(raw))), ""},
		{"bytes value", mustAny(t, wrapperspb.Bytes(raw)), ""},
		{"typed struct", typed(map[string]any{"config": string(raw)}), ""},
		{"typed struct without config", typed(map[string]any{"other": "x"}), `no "config" field`},
		{"typed struct with non-string config", typed(map[string]any{"config": 1.0}), "must be a string"},
		{"other message", mustAny(t, &structpb.Struct{}), "unsupported plugin_config type"},
		{"nil", nil, "no plugin_config"},
		{"bad json", mustAny(t, wrapperspb.String("{")), "decoding extension config"},
		{"unknown engine", mustAny(t, wrapperspb.String(`{"schema":1,"name":"x","wasm":{"path":"/m.wasm","sha256":"00"}}`)), "no wasm engine"},
	}
	p := New([]core.Engine{e})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := p.Parse(tt.msg, newFakeConfigCallbacks())
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				cfg.(*configHandle).Destroy()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Parse error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestPlugin_Merge_ChildWinsAndReferencesAreCounted(t *testing.T) {
	e := newFuncEngine()
	a := e.register("merge-a", "", nil)
	p := New([]core.Engine{e})
	parse := func(ext extconfig.Extension, cb *fakeConfigCallbacks) *configHandle {
		t.Helper()
		var callbacks api.ConfigCallbackHandler // nil: a route-level config
		if cb != nil {
			callbacks = cb
		}
		cfg, err := p.Parse(stringConfig(t, ext), callbacks)
		if err != nil {
			t.Fatal(err)
		}
		return cfg.(*configHandle)
	}
	parent := parse(a, newFakeConfigCallbacks())
	child := parse(a, nil)
	merged, ok := p.Merge(parent, child).(*configHandle)
	if !ok || merged.c != child.c || merged == child {
		t.Fatalf("Merge(parent, child) = %+v, want a new handle on the child's config", merged)
	}

	b := e.register("merge-b", "", nil)
	other := parse(b, nil)
	if kept := p.Merge(parent, other).(*configHandle); kept.c != parent.c {
		t.Errorf("Merge with a child for another extension replaced the parent")
	} else {
		kept.Destroy()
	}
	other.Destroy()
	parent.Destroy()

	closedBefore := e.closed.Load()
	child.Destroy()
	if e.closed.Load() != closedBefore {
		t.Errorf("child config closed while a merged id still refers to it")
	}
	merged.Destroy()
	merged.Destroy() // Envoy destroys an id once; a second call must not over-release
	if got := e.closed.Load() - closedBefore; got != 1 {
		t.Errorf("child config closed %d times after its last reference, want 1", got)
	}
	if got := e.closed.Load(); got != 3 {
		t.Errorf("%d configs closed, want 3", got)
	}
}

func TestPlugin_Factory_StreamHoldsConfig(t *testing.T) {
	e := newFuncEngine()
	ext := e.register("hold", "", nil)
	h := newHarness(t, []core.Engine{e})
	cfg, err := h.p.Parse(stringConfig(t, ext), h.callbacks)
	if err != nil {
		t.Fatal(err)
	}
	f := h.p.Factory(cfg, fakeCallbacks{&slot{req: &fakeRequest{t: t}}})
	cfg.(*configHandle).Destroy()
	if e.closed.Load() != 0 {
		t.Fatal("config closed while a stream uses it")
	}
	f.OnDestroy(0)
	f.OnDestroy(0)
	if e.closed.Load() != 1 {
		t.Fatalf("config closed %d times after the stream ended, want 1", e.closed.Load())
	}
}

func TestPlugin_Factory_UnusableConfigAnswers500(t *testing.T) {
	p := New(nil)
	s := &slot{req: &fakeRequest{t: t}, events: make(chan event, 1)}
	f := p.Factory("not a config", fakeCallbacks{s})
	s.live[decoding] = true
	if st := s.call(decoding, func() api.StatusType { return f.DecodeHeaders(nil, true) }); st != api.LocalReply || s.reply == nil || s.reply.status != 500 {
		t.Fatalf("DecodeHeaders = %d reply %+v, want LocalReply 500", st, s.reply)
	}
}
