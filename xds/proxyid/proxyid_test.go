package proxyid

import (
	"reflect"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

func TestNodeRoundTrip(t *testing.T) {
	in := Identity{ID: "w1", Cluster: "c", Mode: Waypoint, Namespace: "apps",
		Labels: map[string]string{"app": "x"}, GatewayName: "wp", Services: []string{"apps/b", "apps/a"}, Upstream: "127.0.0.1:1",
		Listen: "127.0.0.1:15008", InboundListen: "127.0.0.1:15006", ServicePort: 8080, OutboundUpstream: "svc:80",
		Endpoints: map[string]string{"apps/a": "127.0.0.1:2"}, TLSCert: "/c", TLSKey: "/k", TLSCA: "/ca"}
	out, err := FromNode(in.Node())
	if err != nil {
		t.Fatal(err)
	}
	in.Services = []string{"apps/a", "apps/b"} // FromNode sorts
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", out, in)
	}
}

func TestFromNode_Invalid(t *testing.T) {
	tests := []struct {
		name string
		id   Identity
		want string
	}{
		{"no mode", Identity{ID: "p", Namespace: "ns"}, `proxy "p": metadata TRAFFICEXT_MODE: unknown mode ""`},
		{"bad mode", Identity{ID: "p", Mode: "router", Namespace: "ns"}, `unknown mode "router"`},
		{"no namespace", Identity{ID: "p", Mode: Gateway}, "metadata NAMESPACE: must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromNode(tt.id.Node())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := FromNode(&corev3.Node{Id: "bare"}); err == nil {
		t.Fatal("a node without metadata was accepted")
	}
}

func TestFromNode_ServicePortAsString(t *testing.T) {
	n := Identity{ID: "p", Mode: Sidecar, Namespace: "ns"}.Node()
	n.Metadata.Fields[keyServicePort] = structpb.NewStringValue("9080")
	id, err := FromNode(n)
	if err != nil || id.ServicePort != 9080 {
		t.Fatalf("id = %+v, err = %v", id, err)
	}
	n.Metadata.Fields[keyServicePort] = structpb.NewNumberValue(70000)
	if id, _ := FromNode(n); id.ServicePort != 0 {
		t.Fatalf("out-of-range port accepted: %d", id.ServicePort)
	}
}
