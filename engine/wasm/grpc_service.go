package wasm

import (
	"errors"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/trafficext/trafficext/core"
	"github.com/trafficext/trafficext/engine/wasm/internal/abicodec"
)

// grpcService is what the host needs of the envoy.config.core.v3.GrpcService an SDK passes
// to proxy_grpc_call / proxy_grpc_stream.
type grpcService struct {
	cluster   string
	authority string
	// google is set when the service asks for the Google C++ gRPC client (google_grpc).
	google   bool
	timeout  time.Duration
	metadata []core.Header
}

// errNotGrpcService says the bytes do not parse as a GrpcService message.
var errNotGrpcService = errors.New("not a serialized GrpcService")

// parseGrpcService decodes the upstream argument of proxy_grpc_call / proxy_grpc_stream the
// way Envoy does (context.cc grpcCall): bytes that parse as a GrpcService message are one;
// bytes that do not are taken as a bare cluster name (the Rust SDK passes the name). Parsing
// follows protobuf's rules: unknown fields (and known fields with another wire type) are
// skipped, the last of repeated scalar values and of the oneof members wins, sub-messages of
// a repeated occurrence merge, proto3 strings must be UTF-8.
func parseGrpcService(b []byte) grpcService {
	s, err := decodeGrpcService(b)
	if err != nil {
		return grpcService{cluster: string(b)}
	}
	return s
}

func decodeGrpcService(b []byte) (grpcService, error) {
	var s grpcService
	err := abicodec.Walk(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case 1: // envoy_grpc
			if s.google {
				s.google, s.cluster, s.authority = false, "", ""
			}
			return abicodec.Walk(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				if typ != protowire.BytesType {
					return nil
				}
				switch num {
				case 1:
					return str(v, &s.cluster)
				case 2:
					return str(v, &s.authority)
				case 3, 4: // retry_policy, max_receive_message_length: must parse
					return abicodec.Walk(v, nil)
				}
				return nil
			})
		case 2: // google_grpc
			s.google, s.cluster, s.authority = true, "", ""
			return abicodec.Walk(v, nil)
		case 3: // timeout (google.protobuf.Duration)
			var sec, nanos int64
			err := abicodec.Walk(v, func(num protowire.Number, typ protowire.Type, _ []byte, n uint64) error {
				if typ == protowire.VarintType && num == 1 {
					sec = int64(n)
				} else if typ == protowire.VarintType && num == 2 {
					nanos = int64(int32(n))
				}
				return nil
			})
			s.timeout = time.Duration(sec)*time.Second + time.Duration(nanos)
			return err
		case 5: // initial_metadata (HeaderValue)
			var h core.Header
			var raw []byte
			hasRaw := false
			err := abicodec.Walk(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				if typ != protowire.BytesType {
					return nil
				}
				switch num {
				case 1:
					return str(v, &h.Key)
				case 2:
					return str(v, &h.Value)
				case 3:
					raw, hasRaw = v, true
				}
				return nil
			})
			if hasRaw && h.Value == "" {
				h.Value = string(raw)
			}
			s.metadata = append(s.metadata, h)
			return err
		case 6: // retry_policy
			return abicodec.Walk(v, nil)
		}
		return nil
	})
	return s, err
}

func str(v []byte, dst *string) error {
	if !utf8.Valid(v) {
		return errNotGrpcService
	}
	*dst = string(v)
	return nil
}
