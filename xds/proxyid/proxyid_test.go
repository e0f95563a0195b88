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
		Labels: map[string]string{"app": "x"}, GatewayName: "wp", Services: []string{"apps/b", "apps/se", "apps/a"}, ServiceEntries: []string{"apps/se"}, Upstream: "127.0.0.1:1",
		Listen: "127.0.0.1:15008", InboundListen: "127.0.0.1:15006", ServicePort: 8080, OutboundUpstream: "svc:80",
		Endpoints: map[string]string{"apps/a": "127.0.0.1:2"}, TLSCert: "/c", TLSKey: "/k", TLSCA: "/ca"}
	out, err := FromNode(in.Node())
	if err != nil {
		t.Fatal(err)
	}
	in.Services = []string{"apps/a", "apps/b", "apps/se"} // FromNode sorts
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

// TestFromNode_Services: SERVICES entries as bare strings (the original format, Kubernetes
// Services) and as structs carrying a kind.
func TestFromNode_Services(t *testing.T) {
	str := structpb.NewStringValue
	entry := func(fields map[string]*structpb.Value) *structpb.Value {
		return structpb.NewStructValue(&structpb.Struct{Fields: fields})
	}
	tests := []struct {
		name          string
		entries       []*structpb.Value
		services, ses []string
		wantErr       string
	}{
		{name: "bare strings are Kubernetes Services", entries: []*structpb.Value{str("apps/b"), str("apps/a")}, services: []string{"apps/a", "apps/b"}},
		{name: "struct with kind ServiceEntry", entries: []*structpb.Value{str("apps/a"), entry(map[string]*structpb.Value{"service": str("apps/se"), "kind": str("ServiceEntry")})},
			services: []string{"apps/a", "apps/se"}, ses: []string{"apps/se"}},
		{name: "struct without kind is a Service", entries: []*structpb.Value{entry(map[string]*structpb.Value{"service": str("apps/a")})}, services: []string{"apps/a"}},
		{name: "struct with kind Service", entries: []*structpb.Value{entry(map[string]*structpb.Value{"service": str("apps/a"), "kind": str("Service")})}, services: []string{"apps/a"}},
		{name: "unknown kind", entries: []*structpb.Value{str("apps/a"), entry(map[string]*structpb.Value{"service": str("apps/x"), "kind": str("Gateway")})},
			wantErr: `proxy "p": metadata SERVICES[1].kind: unknown kind "Gateway"`},
		{name: "no namespace", entries: []*structpb.Value{str("reviews")}, wantErr: `metadata SERVICES[0]: service "reviews": want "<namespace>/<name>"`},
		{name: "struct without service", entries: []*structpb.Value{entry(map[string]*structpb.Value{"kind": str("ServiceEntry")})}, wantErr: `metadata SERVICES[0]: service ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := Identity{ID: "p", Mode: Waypoint, Namespace: "apps"}.Node()
			n.Metadata.Fields[keyServices] = structpb.NewListValue(&structpb.ListValue{Values: tt.entries})
			id, err := FromNode(n)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(id.Services, tt.services) || !reflect.DeepEqual(id.ServiceEntries, tt.ses) {
				t.Fatalf("services %v, service entries %v, err %v; want %v, %v", id.Services, id.ServiceEntries, err, tt.services, tt.ses)
			}
		})
	}
}

// TestNode_ServicesFormat: a Kubernetes Service is written as a bare string, which control
// planes that predate kinds read as before.
func TestNode_ServicesFormat(t *testing.T) {
	n := Identity{ID: "p", Mode: Waypoint, Namespace: "apps", Services: []string{"apps/a", "apps/se"}, ServiceEntries: []string{"apps/se"}}.Node()
	vals := n.Metadata.Fields[keyServices].GetListValue().GetValues()
	if len(vals) != 2 || vals[0].GetStringValue() != "apps/a" || vals[1].GetStructValue().GetFields()["kind"].GetStringValue() != "ServiceEntry" {
		t.Fatalf("SERVICES = %v", vals)
	}
}

func TestGatewayAPIName(t *testing.T) {
	tests := []struct {
		name   string
		id     Identity
		want   string
		wantOK bool
	}{
		{"neither", Identity{}, "", false},
		{"GATEWAY_NAME", Identity{GatewayName: "gw"}, "gw", true},
		{"label", Identity{Labels: map[string]string{LabelGatewayName: "web"}}, "web", true},
		{"label wins", Identity{GatewayName: "gw", Labels: map[string]string{LabelGatewayName: "web"}}, "web", true},
		{"empty label still marks a gateway", Identity{Labels: map[string]string{LabelGatewayName: ""}}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, ok := tt.id.GatewayAPIName(); got != tt.want || ok != tt.wantOK {
				t.Fatalf("GatewayAPIName() = %q, %v; want %q, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
