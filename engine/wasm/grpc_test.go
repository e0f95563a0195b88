package wasm

import (
	"net"
	"testing"
	"time"

	"github.com/trafficext/trafficext/engine/callout/callouttest"
	"github.com/trafficext/trafficext/engine/wasm/wasmtest"
	"github.com/trafficext/trafficext/extconfig"
)

// echoGateway stands in for the callout gateway in unit tests: callouttest's gRPC service
// (t.S/Echo answers the message upper-cased). The conformance tests use Envoy's real gateway.
func echoGateway(t *testing.T) string {
	srv := callouttest.NewService()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// waitPosted waits until an asynchronous callback posted work to the stream.
func waitPosted(t *testing.T) func(*fakeStream) {
	return func(s *fakeStream) {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			s.Mu.Lock()
			n := len(s.Posted)
			s.Mu.Unlock()
			if n > 0 {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Error("nothing was posted to the stream")
	}
}

func TestEngine_GRPC(t *testing.T) {
	g := wasmtest.C(t, "grpc", "")
	gw := echoGateway(t)
	withGateway := func(cfg, addr string) func(*extconfig.Extension) {
		return func(e *extconfig.Extension) {
			e.Wasm.PluginConfig = []byte(cfg)
			e.CalloutGateway = addr
		}
	}
	t.Run("unary through the gateway resumes the request", func(t *testing.T) {
		p, _ := load(t, testEngine, g, withGateway("grpc", gw))
		o := drive(t, p, request{path: "/unary", before: waitPosted(t)})
		if o.reply != nil || header(o.upstreamReq, "x-grpc-reply") != "C-GUEST" || header(o.upstreamReq, "x-grpc-token-kind") != "1" {
			t.Fatalf("reply %+v, upstream %v, logs %v", o.reply, o.upstreamReq, o.s.Logs)
		}
	})
	t.Run("google_grpc is BAD_ARGUMENT", func(t *testing.T) {
		p, _ := load(t, testEngine, g, withGateway("google", gw))
		o := drive(t, p, request{path: "/unary"})
		if o.status() != 500 || header(newMap(flat(o.reply.Headers)...), "x-grpc-call-status") != "2" {
			t.Fatalf("reply %+v", o.reply)
		}
	})
	t.Run("no gateway closes UNAVAILABLE", func(t *testing.T) {
		p, _ := load(t, testEngine, g, withConfig("grpc"))
		o := drive(t, p, request{path: "/unary", before: waitPosted(t)})
		if o.status() != 503 || header(newMap(flat(o.reply.Headers)...), "x-grpc-status") != "14" {
			t.Fatalf("reply %+v", o.reply)
		}
	})
}

func TestCallouts_Tokens(t *testing.T) {
	var c callouts
	var got []uint32
	for _, k := range []int{kindHTTP, kindGRPCCall, kindGRPCStream, kindGRPCCall, kindHTTP} {
		id, ok := c.add(k, &gatewayCall{cancel: func() {}})
		if !ok {
			t.Fatal("refused")
		}
		got = append(got, id)
	}
	if want := []uint32{4, 5, 6, 9, 8}; !equalU32(got, want) {
		t.Fatalf("tokens %v, want %v (Envoy's numbering)", got, want)
	}
	if id := c.nextHTTPCallID(); id != 12 {
		t.Errorf("next HTTP id %d, want 12", id)
	}
	for c.count < maxCallouts {
		c.add(kindGRPCStream, &gatewayCall{cancel: func() {}})
	}
	if _, ok := c.add(kindGRPCCall, &gatewayCall{cancel: func() {}}); ok {
		t.Errorf("call %d accepted beyond the cap", maxCallouts+1)
	}
	cancelled := 0
	for _, g := range c.live {
		g.cancel = func() { cancelled++ }
	}
	c.cancelAll()
	if cancelled != maxCallouts || c.count != 0 || len(c.live) != 0 {
		t.Errorf("cancelAll: %d cancelled, %d left", cancelled, c.count)
	}
}

func equalU32(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
