package server

import (
	"context"
	"net"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	extensionservice "github.com/envoyproxy/go-control-plane/envoy/service/extension/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/trafficext/trafficext/xds/model"
)

// An Istio-mode proxy opens one ECDS stream per filter, each naming one resource: it must be
// answered (an ADS-mode cache waits for every resource of the snapshot to be named).
func TestServer_IstioProxyPerFilterECDS(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := New(Options{})
	s.Update([]*model.Extension{
		scaleExtension("istio-system", "a", "function envoy_on_request(h) end", nil, 0),
		scaleExtension("istio-system", "b", "function envoy_on_request(h) end", nil, 0),
	})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ctx, lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	node := istioNode(t, "sidecar~10.0.0.1~p.apps~apps.svc.cluster.local", map[string]any{"NAMESPACE": "apps"})
	stream, err := extensionservice.NewExtensionConfigDiscoveryServiceClient(conn).StreamExtensionConfigs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	name := model.Key{Namespace: "istio-system", Name: "b"}.ResourceName()
	if err := stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resource.ExtensionConfigType, ResourceNames: []string{name}}); err != nil {
		t.Fatal(err)
	}
	got := make(chan *discovery.DiscoveryResponse, 1)
	go func() {
		r, err := stream.Recv()
		if err == nil {
			got <- r
		}
	}()
	select {
	case r := <-got:
		if len(r.GetResources()) != 1 {
			t.Fatalf("resources = %d, want 1", len(r.GetResources()))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no ECDS response for a single-name request")
	}
}
