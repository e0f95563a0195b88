// Package xdstest is a minimal ADS client for tests of the control plane: it subscribes,
// acknowledges every response (or NACKs the next one of a type on request) and hands the
// responses to the test in order.
package xdstest

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/trafficext/trafficext/xds/proxyid"
)

// ADSClient is one ADS stream of a proxy with identity id.
type ADSClient struct {
	t      *testing.T
	stream discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	node   *corev3.Node
	// Responses delivers every response after it was acknowledged; closed with the stream.
	Responses chan *discovery.DiscoveryResponse
	mu        sync.Mutex
	names     map[string][]string
	nack      map[string]string // type URL → error message for the next reply
}

// Dial opens an ADS stream to addr; it is closed when the test ends.
func Dial(t *testing.T, ctx context.Context, addr string, id proxyid.Identity) *ADSClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := &ADSClient{t: t, stream: stream, node: id.Node(), Responses: make(chan *discovery.DiscoveryResponse, 64),
		names: map[string][]string{}, nack: map[string]string{}}
	go func() {
		for {
			r, err := stream.Recv()
			if err != nil {
				close(c.Responses)
				return
			}
			c.ack(r)
			c.Responses <- r
		}
	}()
	return c
}

// Subscribe asks for names of typeURL (none: a wildcard subscription).
func (c *ADSClient) Subscribe(typeURL string, names ...string) {
	c.mu.Lock()
	c.names[typeURL] = names
	c.mu.Unlock()
	if err := c.stream.Send(&discovery.DiscoveryRequest{Node: c.node, TypeUrl: typeURL, ResourceNames: names}); err != nil {
		c.t.Error(err)
	}
}

// NACKNext rejects the next response of typeURL with msg, as Envoy does a config it refuses.
func (c *ADSClient) NACKNext(typeURL, msg string) {
	c.mu.Lock()
	c.nack[typeURL] = msg
	c.mu.Unlock()
}

func (c *ADSClient) ack(r *discovery.DiscoveryResponse) {
	c.mu.Lock()
	req := &discovery.DiscoveryRequest{TypeUrl: r.GetTypeUrl(), ResourceNames: c.names[r.GetTypeUrl()],
		VersionInfo: r.GetVersionInfo(), ResponseNonce: r.GetNonce()}
	if msg, ok := c.nack[r.GetTypeUrl()]; ok {
		delete(c.nack, r.GetTypeUrl())
		req.VersionInfo = ""
		req.ErrorDetail = &status.Status{Code: 3, Message: msg}
	}
	c.mu.Unlock()
	_ = c.stream.Send(req)
}

// Next waits for the next response, which must be of typeURL.
func (c *ADSClient) Next(typeURL string, timeout time.Duration) *discovery.DiscoveryResponse {
	c.t.Helper()
	deadline := time.After(timeout)
	select {
	case r, ok := <-c.Responses:
		if !ok {
			c.t.Fatalf("stream closed waiting for %s", typeURL)
		}
		if r.GetTypeUrl() != typeURL {
			c.t.Fatalf("got a %s response (version %s) while waiting for %s", r.GetTypeUrl(), r.GetVersionInfo(), typeURL)
		}
		return r
	case <-deadline:
		c.t.Fatalf("no %s response within %s", typeURL, timeout)
	}
	return nil
}

// Quiet checks that no response arrives for d.
func (c *ADSClient) Quiet(d time.Duration) {
	c.t.Helper()
	select {
	case r := <-c.Responses:
		c.t.Fatalf("unexpected %s response version %s", r.GetTypeUrl(), r.GetVersionInfo())
	case <-time.After(d):
	}
}

// Logger is a slog.Logger writing to the test's log.
func Logger(t *testing.T) *slog.Logger { return slog.New(slog.NewTextHandler(testWriter{t}, nil)) }

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// WasmDoc is a TrafficExtension istio-system/name (phase AUTHN) whose spec.wasm holds the
// YAML lines of wasm; labels are "key: value" items for metadata.labels.
func WasmDoc(name, wasm string, labels ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: extensions.istio.io/v1alpha1\nkind: TrafficExtension\nmetadata:\n  name: %s\n  namespace: istio-system\n", name)
	if len(labels) > 0 {
		b.WriteString("  labels: {" + strings.Join(labels, ", ") + "}\n")
	}
	b.WriteString("spec:\n  phase: AUTHN\n  wasm:\n")
	for _, l := range strings.Split(wasm, "\n") {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}
