package policy_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/policy"
	"github.com/trafficext/trafficext/xds/proxyid"
	"github.com/trafficext/trafficext/xds/source"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestOrder_Golden renders the chains of testdata/order.yaml for a sidecar, a gateway and a
// waypoint (whole and per bound service), plus the global creation order, and compares them
// with testdata/order.golden. Regenerate with go test ./xds/policy -run Golden -update.
func TestOrder_Golden(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "order.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	exts, _, err := source.Decode("order.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("# global order (creationTimestamp, name, namespace)\n")
	sorted := append([]*model.Extension(nil), exts...)
	policy.SortByCreation(sorted)
	for _, e := range sorted {
		fmt.Fprintf(&b, "%s %s\n", e.CreationTimestamp.Format("2006-01-02T15:04:05Z"), e.Key)
	}
	cases := []struct {
		title string
		id    proxyid.Identity
		l     policy.Listener
	}{
		{"sidecar apps, inbound 9080", proxyid.Identity{ID: "s", Mode: proxyid.Sidecar, Namespace: "apps"}, policy.Listener{Class: policy.ClassSidecarInbound, Port: 9080}},
		{"gateway istio-system, 443", proxyid.Identity{ID: "g", Mode: proxyid.Gateway, Namespace: "istio-system"}, policy.Listener{Class: policy.ClassGateway, Port: 443}},
		{"waypoint apps serving apps/reviews, shop/cart and the ServiceEntry apps/httpbin, all services", waypointID, policy.Listener{Class: policy.ClassSidecarInbound}},
		{"waypoint, chain of shop/cart", waypointID, policy.Listener{Class: policy.ClassSidecarInbound, Service: "shop/cart"}},
		{"waypoint, chain of apps/reviews", waypointID, policy.Listener{Class: policy.ClassSidecarInbound, Service: "apps/reviews"}},
		{"waypoint, chain of the ServiceEntry apps/httpbin", waypointID, policy.Listener{Class: policy.ClassSidecarInbound, Service: "apps/httpbin"}},
	}
	for _, c := range cases {
		fmt.Fprintf(&b, "\n# %s\n", c.title)
		for _, e := range policy.Select(c.id, exts, c.l, policy.Options{}) {
			prio := "unset"
			if p := e.Spec.GetPriority(); p != nil {
				prio = fmt.Sprint(p.GetValue())
			}
			fmt.Fprintf(&b, "%-11s %-11s %s %s\n", e.Spec.GetPhase(), prio, e.CreationTimestamp.Format("2006-01-02T15:04:05Z"), e.Key)
		}
	}
	golden := filepath.Join("testdata", "order.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("chains differ from %s (go test -run Golden -update to accept):\n%s", golden, b.String())
	}
}

var waypointID = proxyid.Identity{ID: "w", Mode: proxyid.Waypoint, Namespace: "apps", GatewayName: "waypoint",
	Services: []string{"apps/httpbin", "apps/reviews", "shop/cart"}, ServiceEntries: []string{"apps/httpbin"}}
