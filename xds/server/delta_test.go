package server

import (
	"testing"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
)

// Delta streams carry the node on their first request only: the server builds the proxy then,
// and attributes later requests (NACKs, ACKs) of the stream to it.
func TestDeltaRequests_BuildAndNACK(t *testing.T) {
	s := New(Options{})
	s.Update(exts(t, "function envoy_on_request(h) end"))
	if err := s.onDeltaRequest(7, &discovery.DeltaDiscoveryRequest{Node: gw.Node(), TypeUrl: resource.ListenerType}); err != nil {
		t.Fatal(err)
	}
	if n, ok := s.Nodes()["gw"]; !ok || len(n.Chain) != 1 {
		t.Fatalf("nodes after the first delta request = %v", s.Nodes())
	}
	nack := &discovery.DeltaDiscoveryRequest{TypeUrl: resource.ExtensionConfigType, ResponseNonce: "1",
		ErrorDetail: &status.Status{Message: "bad config"}}
	if err := s.onDeltaRequest(7, nack); err != nil {
		t.Fatal(err)
	}
	if ns := s.NACKs(); len(ns) != 1 || ns[0].Node != "gw" || ns[0].Message != "bad config" {
		t.Fatalf("NACKs = %+v", ns)
	}
	if err := s.onDeltaRequest(7, &discovery.DeltaDiscoveryRequest{TypeUrl: resource.ExtensionConfigType, ResponseNonce: "2"}); err != nil {
		t.Fatal(err)
	}
	if ns := s.NACKs(); len(ns) != 0 {
		t.Fatalf("NACKs after the ACK = %+v", ns)
	}
	s.callbacks().OnDeltaStreamClosed(7, nil)
	if len(s.deltaNodes) != 0 {
		t.Error("the closed stream's node is still remembered")
	}
}
