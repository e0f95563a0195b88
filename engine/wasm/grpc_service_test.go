package wasm

import (
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/trafficext/trafficext/core"
)

func marshalService(t testing.TB, s *corev3.GrpcService) []byte {
	b, err := proto.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseGrpcService(t *testing.T) {
	envoy := func(cluster, authority string) *corev3.GrpcService {
		return &corev3.GrpcService{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: cluster, Authority: authority}}}
	}
	full := envoy("grpc-upstream", "auth.example")
	full.Timeout = durationpb.New(1500 * time.Millisecond)
	full.InitialMetadata = []*corev3.HeaderValue{{Key: "x-a", Value: "1"}, {Key: "x-raw", RawValue: []byte("r")}}
	google := &corev3.GrpcService{TargetSpecifier: &corev3.GrpcService_GoogleGrpc_{GoogleGrpc: &corev3.GrpcService_GoogleGrpc{TargetUri: "dns:x", StatPrefix: "p"}}}
	tests := []struct {
		name string
		in   []byte
		want grpcService
	}{
		{"envoy_grpc", marshalService(t, envoy("c1", "")), grpcService{cluster: "c1"}},
		{"full", marshalService(t, full), grpcService{cluster: "grpc-upstream", authority: "auth.example", timeout: 1500 * time.Millisecond,
			metadata: []core.Header{{Key: "x-a", Value: "1"}, {Key: "x-raw", Value: "r"}}}},
		{"google_grpc", marshalService(t, google), grpcService{google: true}},
		{"bare cluster name (Rust SDK)", []byte("grpc_cluster"), grpcService{cluster: "grpc_cluster"}},
		{"empty parses as an empty message", nil, grpcService{}},
		{"invalid utf-8 cluster is not a message", append([]byte{0x0a, 0x03, 0x0a, 0x01}, 0xff), grpcService{cluster: "\x0a\x03\x0a\x01\xff"}},
		{"unknown fields skipped", append(marshalService(t, envoy("c2", "")), 0x78, 0x05), grpcService{cluster: "c2"}},
		{"google then envoy: last wins", append(marshalService(t, google), marshalService(t, envoy("c3", ""))...), grpcService{cluster: "c3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseGrpcService(tt.in)
			if got.cluster != tt.want.cluster || got.authority != tt.want.authority || got.google != tt.want.google || got.timeout != tt.want.timeout || len(got.metadata) != len(tt.want.metadata) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i, h := range tt.want.metadata {
				if got.metadata[i] != h {
					t.Errorf("metadata[%d] = %+v, want %+v", i, got.metadata[i], h)
				}
			}
		})
	}
}

// FuzzParseGrpcService checks the decoder against the protobuf runtime: whatever protobuf
// accepts as a GrpcService, the decoder reads as a message with the same target.
func FuzzParseGrpcService(f *testing.F) {
	f.Add(marshalService(f, &corev3.GrpcService{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: "c", Authority: "a"}},
		Timeout: durationpb.New(time.Second), InitialMetadata: []*corev3.HeaderValue{{Key: "k", Value: "v"}}}))
	f.Add([]byte("outbound|9000||grpc.default.svc.cluster.local"))
	f.Add([]byte{0x12, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeGrpcService(b)
		var m corev3.GrpcService
		if proto.Unmarshal(b, &m) != nil {
			return
		}
		if err != nil {
			t.Fatalf("protobuf accepts %x, the decoder does not: %v", b, err)
		}
		if eg := m.GetEnvoyGrpc(); eg != nil {
			if got.google || got.cluster != eg.GetClusterName() || got.authority != eg.GetAuthority() {
				t.Fatalf("decoded %+v, protobuf %v", got, &m)
			}
		}
		if (m.GetGoogleGrpc() != nil) != got.google {
			t.Fatalf("google: decoded %v, protobuf %v", got.google, &m)
		}
		if len(got.metadata) != len(m.GetInitialMetadata()) {
			t.Fatalf("metadata: decoded %d, protobuf %d", len(got.metadata), len(m.GetInitialMetadata()))
		}
	})
}
