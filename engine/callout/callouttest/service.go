// Package callouttest is a real gRPC service (grpc-go, messages as raw bytes) for tests of gRPC
// calls made through Envoy or through the callout gateway. It serves every method of service
// t.S:
//
//   - Echo answers the request message upper-cased, with initial metadata x-initial: i and
//     trailing metadata x-trailing: t;
//   - Fail answers NOT_FOUND "no such thing: 100%";
//   - Stream reads one message, then sends initial metadata x-initial: s, three messages m0..m2,
//     trailing metadata x-trailing: s and ends PERMISSION_DENIED "stream denied";
//   - Slow answers UNAVAILABLE "too late" after a second unless the caller gives up first.
//
// Other methods answer UNIMPLEMENTED. The service records the metadata of every call.
package callouttest

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Service is the gRPC server; serve it with its ServeHTTP (h2c) or Serve.
type Service struct {
	*grpc.Server
	// calls: method → metadata of its last call; echoKey(message) → metadata of that Echo.
	calls sync.Map
}

// rawCodec passes messages as bytes.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(b []byte, v any) error {
	*(v.(*[]byte)) = append([]byte{}, b...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

func echoKey(message string) string { return "echo:" + message }

// NewService returns the service, not yet serving.
func NewService() *Service {
	s := &Service{}
	s.Server = grpc.NewServer(grpc.ForceServerCodec(rawCodec{}), grpc.UnknownServiceHandler(s.handle))
	return s
}

// Metadata is the metadata of the last call of method ("/t.S/Echo").
func (s *Service) Metadata(method string) (metadata.MD, bool) {
	v, ok := s.calls.Load(method)
	if !ok {
		return nil, false
	}
	return v.(metadata.MD), true
}

// EchoMetadata is the comma-joined values of key on the Echo call that carried message.
func (s *Service) EchoMetadata(message, key string) string {
	v, ok := s.calls.Load(echoKey(message))
	if !ok {
		return ""
	}
	return strings.Join(v.(metadata.MD).Get(key), ",")
}

func (s *Service) handle(_ any, st grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(st)
	md, _ := metadata.FromIncomingContext(st.Context())
	s.calls.Store(method, md)
	switch method {
	case "/t.S/Echo":
		var in []byte
		if err := st.RecvMsg(&in); err != nil {
			return err
		}
		s.calls.Store(echoKey(string(in)), md)
		st.SetHeader(metadata.Pairs("x-initial", "i"))
		out := []byte(strings.ToUpper(string(in)))
		st.SetTrailer(metadata.Pairs("x-trailing", "t"))
		return st.SendMsg(&out)
	case "/t.S/Fail":
		return status.Error(codes.NotFound, "no such thing: 100%")
	case "/t.S/Stream":
		var in []byte
		if err := st.RecvMsg(&in); err != nil {
			return err
		}
		st.SendHeader(metadata.Pairs("x-initial", "s"))
		for i := range 3 {
			m := []byte(fmt.Sprint("m", i))
			st.SendMsg(&m)
		}
		st.SetTrailer(metadata.Pairs("x-trailing", "s"))
		return status.Error(codes.PermissionDenied, "stream denied")
	case "/t.S/Slow":
		select {
		case <-st.Context().Done():
			return st.Context().Err()
		case <-time.After(time.Second):
		}
		return status.Error(codes.Unavailable, "too late")
	}
	return status.Error(codes.Unimplemented, method)
}
