package extconfig

import (
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	in := &Extension{Name: "extensions.istio.io/trafficextension/ns.a", Generation: "g1",
		FailStrategy: FailOpen, Lua: &Lua{InlineCode: "function envoy_on_request(h) end", CallTimeoutMillis: 30}}
	b, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if out.Name != in.Name || out.Lua.InlineCode != in.Lua.InlineCode || out.Schema != SchemaVersion ||
		out.FailStrategy != FailOpen || out.Lua.CallTimeoutMillis != 30 || out.Generation != "g1" {
		t.Fatalf("round trip changed the message: %+v", out)
	}
	if in.Schema != 0 {
		t.Error("Marshal modified its argument")
	}
}

func TestUnmarshal_Errors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"not json", `{`, "decoding extension config"},
		{"unknown field", `{"schema":1,"name":"a","lua":{"inlineCode":"x"},"extra":1}`, `unknown field "extra"`},
		{"trailing", `{"schema":1,"name":"a","lua":{"inlineCode":"x"}} {}`, "trailing data"},
		{"old schema", `{"schema":0,"name":"a","lua":{"inlineCode":"x"}}`, "schema 0, this filter reads schema 1"},
		{"no name", `{"schema":1,"lua":{"inlineCode":"x"}}`, "name: must not be empty"},
		{"neither", `{"schema":1,"name":"a"}`, "exactly one of lua, wasm or deny"},
		{"both", `{"schema":1,"name":"a","lua":{"inlineCode":"x"},"deny":{"status":403}}`, "exactly one of lua, wasm or deny"},
		{"empty lua", `{"schema":1,"name":"a","lua":{"inlineCode":""}}`, "lua.inlineCode: must not be empty"},
		{"big lua", `{"schema":1,"name":"a","lua":{"inlineCode":"` + strings.Repeat("x", MaxLuaSource+1) + `"}}`, "exceeds the limit of 65536"},
		{"negative timeout", `{"schema":1,"name":"a","lua":{"inlineCode":"x","callTimeoutMillis":-1}}`, "callTimeoutMillis: must not be negative"},
		{"bad strategy", `{"schema":1,"name":"a","failStrategy":"MAYBE","lua":{"inlineCode":"x"}}`, `failStrategy: unknown value "MAYBE"`},
		{"wasm without path", `{"schema":1,"name":"a","wasm":{"sha256":"00"}}`, "wasm.path: must not be empty"},
		{"gateway not ip:port", `{"schema":1,"name":"a","lua":{"inlineCode":"x"},"calloutGateway":"localhost"}`, "calloutGateway: \"localhost\" is not ip:port"},
		{"gateway host name", `{"schema":1,"name":"a","lua":{"inlineCode":"x"},"calloutGateway":"localhost:15084"}`, "host must be an IP address"},
		{"gateway port", `{"schema":1,"name":"a","lua":{"inlineCode":"x"},"calloutGateway":"127.0.0.1:70000"}`, "not a number in 1-65535"},
		{"gateway port sign", `{"schema":1,"name":"a","lua":{"inlineCode":"x"},"calloutGateway":"127.0.0.1:+80"}`, "not a number in 1-65535"},
		{"gateway unix relative", `{"schema":1,"name":"a","lua":{"inlineCode":"x"},"calloutGateway":"unix:run/x"}`, "must be absolute or start with @"},
		{"gateway unix empty", `{"schema":1,"name":"a","lua":{"inlineCode":"x"},"calloutGateway":"unix:@"}`, "empty socket path"},
		{"gateway unix long", `{"schema":1,"name":"a","lua":{"inlineCode":"x"},"calloutGateway":"unix:/` + strings.Repeat("x", 107) + `"}`, "longer than 107 bytes"},
		{"deny status", `{"schema":1,"name":"a","deny":{"status":99}}`, "deny.status: 99 is not an HTTP status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Unmarshal([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestCalloutGateway(t *testing.T) {
	for _, a := range []string{"127.0.0.1:15084", "[::1]:15084", "10.0.0.1:1", "unix:/run/trafficext/callout.sock", "unix:@trafficext-callout-ingress"} {
		b, err := Marshal(&Extension{Name: "a", Wasm: &Wasm{Path: "/m.wasm"}, CalloutGateway: a})
		if err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		e, err := Unmarshal(b)
		if err != nil || e.CalloutGateway != a {
			t.Fatalf("%s: round trip %+v, %v", a, e, err)
		}
	}
	// A message without the field (an older control plane) still reads.
	if e, err := Unmarshal([]byte(`{"schema":1,"name":"a","wasm":{"path":"/m"}}`)); err != nil || e.CalloutGateway != "" {
		t.Fatalf("without gateway: %+v, %v", e, err)
	}
}

func TestEffectiveFailStrategy(t *testing.T) {
	if got := (&Extension{}).EffectiveFailStrategy(); got != FailClose {
		t.Errorf("default = %s, want FAIL_CLOSE", got)
	}
	if got := (&Extension{FailStrategy: FailReload}).EffectiveFailStrategy(); got != FailReload {
		t.Errorf("got %s", got)
	}
}

func FuzzUnmarshal(f *testing.F) {
	f.Add([]byte(`{"schema":1,"name":"a","lua":{"inlineCode":"x"}}`))
	f.Add([]byte(`{"schema":1,"name":"a","deny":{"status":403,"body":"no"}}`))
	f.Add([]byte(`{"schema":1,"name":"a","wasm":{"path":"/m.wasm","sha256":"ab","pluginConfig":"e30="}}`))
	f.Add([]byte(`{"schema":1,"name":"a","wasm":{"path":"/m.wasm","sha256":"ab"},"calloutGateway":"[::1]:15084"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Unmarshal(b)
		if err != nil {
			return
		}
		// Anything accepted must re-encode and decode to an equally valid message.
		again, err := Marshal(e)
		if err != nil {
			t.Fatalf("accepted message does not re-encode: %v", err)
		}
		if _, err := Unmarshal(again); err != nil {
			t.Fatalf("re-encoded message rejected: %v", err)
		}
	})
}
