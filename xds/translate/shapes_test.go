package translate_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/proxyid"
	"github.com/trafficext/trafficext/xds/translate"
)

var (
	shapeSidecar = proxyid.Identity{
		ID: "echo.apps", Mode: proxyid.Sidecar, Namespace: "apps", Labels: map[string]string{"app": "echo"},
		Listen: "127.0.0.1:15001", InboundListen: "127.0.0.1:15006", ServicePort: 8080, Upstream: "127.0.0.1:9080",
	}
	shapeWaypoint = proxyid.Identity{
		ID: "waypoint.apps", Mode: proxyid.Waypoint, Namespace: "apps", GatewayName: "waypoint",
		Labels:    map[string]string{"gateway.networking.k8s.io/gateway-name": "waypoint"},
		Services:  []string{"apps/echo-a", "apps/echo-b"},
		Endpoints: map[string]string{"apps/echo-a": "127.0.0.1:9001", "apps/echo-b": "127.0.0.1:9002"},
	}
)

func short(names []string) []string {
	out := []string{}
	for _, n := range names {
		out = append(out, strings.TrimPrefix(n, model.ResourceNamePrefix))
	}
	return out
}

func TestProxy_Shapes(t *testing.T) {
	tests := []struct {
		name   string
		id     proxyid.Identity
		chains map[string][]string
	}{
		{"sidecar", shapeSidecar, map[string][]string{
			// CLIENT side, match port = the service port 8080.
			"outbound|8080": {"apps.both", "apps.client-only"},
			// SERVER side, match port = the workload's target port 9080.
			"inbound|9080": {"apps.both", "apps.server-target-port"},
		}},
		{"waypoint", shapeWaypoint, map[string][]string{
			// A Service target reaches only that service's chain; listed ports never match a
			// waypoint (its listener port is 0); GatewayClass istio-waypoint from the root
			// namespace reaches every service.
			"waypoint|apps/echo-a": {"apps.service-a", "istio-system.mesh-waypoints", "apps.waypoint-all"},
			"waypoint|apps/echo-b": {"istio-system.mesh-waypoints", "apps.waypoint-all"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := translate.Proxy(tt.id, load(t, "shapes.yaml"), translate.Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			for l, c := range res.Chains {
				got[l] = short(c)
			}
			if !reflect.DeepEqual(got, tt.chains) {
				t.Errorf("chains = %v\nwant     %v", got, tt.chains)
			}
			out := render(t, res)
			golden := filepath.Join("testdata", "shape-"+tt.name+".golden")
			if *update {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./xds/translate -update)", err)
			}
			if !bytes.Equal(out, want) {
				t.Errorf("%s differs from the output; run go test ./xds/translate -update and review the diff\n%s", golden, out)
			}
		})
	}
}

func TestProxy_ShapeDefaults(t *testing.T) {
	res, err := translate.Proxy(proxyid.Identity{ID: "s", Mode: proxyid.Sidecar, Namespace: "apps"}, nil, translate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	addr := func(l *listenerv3.Listener) string {
		sa := l.GetAddress().GetSocketAddress()
		return sa.GetAddress() + ":" + strings.TrimSpace(strings.Split(sa.String(), "port_value:")[1])
	}
	names := map[string]string{}
	for _, l := range res.Listeners {
		names[l.GetName()] = addr(l)
	}
	want := map[string]string{"outbound|10000": "127.0.0.1:10000", "inbound|8081": "127.0.0.1:15006"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("sidecar listeners = %v, want %v", names, want)
	}
	res, err = translate.Proxy(proxyid.Identity{ID: "w", Mode: proxyid.Waypoint, Namespace: "apps"}, nil, translate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Listeners) != 1 || res.Listeners[0].GetName() != translate.HBONEListenerName || !strings.Contains(addr(res.Listeners[0]), ":15008") {
		t.Errorf("waypoint listeners = %v", res.Listeners)
	}
	if _, err := translate.Proxy(proxyid.Identity{ID: "s", Mode: proxyid.Sidecar, Namespace: "apps", InboundListen: "x"}, nil, translate.Options{}); err == nil {
		t.Error("no error for a bad inbound address")
	}
	if got := translate.ServiceHost("apps/echo-a"); got != "echo-a.apps.svc.cluster.local" {
		t.Errorf("ServiceHost = %q", got)
	}
}
