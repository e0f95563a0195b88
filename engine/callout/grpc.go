package callout

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/trafficext/trafficext/core"
	"github.com/trafficext/trafficext/extconfig"
)

// gRPC status codes used by the client itself.
const (
	CodeOK               = 0
	CodeCanceled         = 1
	CodeUnknown          = 2
	CodeDeadlineExceeded = 4
	CodeResourceExhaust  = 8
	CodeInternal         = 13
	CodeUnavailable      = 14
)

// DetailsHeader is the response header in which the gateway reports its response code
// details (%RESPONSE_CODE_DETAILS%); the client removes it.
const DetailsHeader = extconfig.CalloutDetailsHeader

// MaxGRPCMessage bounds one received message (gRPC's default receive limit is 4 MiB; Envoy's
// client has none by default, the gateway hop keeps the bound explicit).
const MaxGRPCMessage = 16 << 20

// GRPCTarget says where a gRPC call goes.
type GRPCTarget struct {
	Cluster string
	// Authority is the :authority sent (Envoy's envoy_grpc.authority); empty: the cluster name.
	Authority string
	// Metadata is the initial metadata sent with the request.
	Metadata []core.Header
	// Timeout bounds the whole call (grpc-timeout is sent too); 0: no bound.
	Timeout time.Duration
}

// GRPCHandler receives a stream's events in order, from one goroutine of the stream, with
// Envoy's gRPC client semantics (source/common/grpc/async_client_impl.cc): InitialMetadata once
// (empty for a trailers-only or failed response), Message per received message,
// TrailingMetadata once (empty when the stream failed), then Close with the gRPC status.
// After Cancel events may still arrive; the caller drops them.
type GRPCHandler interface {
	InitialMetadata(md []core.Header)
	Message(msg []byte)
	TrailingMetadata(md []core.Header)
	Close(code uint32, message string)
}

// GRPCStream is one gRPC call in flight through the gateway.
type GRPCStream struct {
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	queue  [][]byte
	ended  bool // no more messages will be queued (half close)
	wake   chan struct{}
	writer *io.PipeWriter
}

// StartGRPC opens a gRPC stream to /service/method on target.Cluster. Messages are sent with
// Send (they are queued: Send never blocks); the handler receives the answer.
func (c *Client) StartGRPC(target GRPCTarget, service, method string, h GRPCHandler) (*GRPCStream, error) {
	// The timeout starts once the gateway is reachable (read), as Envoy's does once the call
	// is made on a running server.
	ctx, cancel := context.WithCancelCause(context.Background())
	authority := target.Authority
	if authority == "" {
		authority = target.Cluster
	}
	hs := []core.Header{{Key: ":method", Value: "POST"}, {Key: ":path", Value: "/" + service + "/" + method}, {Key: ":authority", Value: authority}}
	for _, m := range target.Metadata {
		if strings.HasPrefix(m.Key, ":") {
			continue
		}
		hs = append(hs, m)
	}
	hs = append(hs, core.Header{Key: "content-type", Value: "application/grpc"}, core.Header{Key: "te", Value: "trailers"})
	if target.Timeout > 0 {
		hs = append(hs, core.Header{Key: "grpc-timeout", Value: strconv.FormatInt(max(target.Timeout.Milliseconds(), 1), 10) + "m"})
	}
	pr, pw := io.Pipe()
	hr, err := c.newRequest(ctx, target.Cluster, hs, pr)
	if err != nil {
		cancel(err)
		return nil, err
	}
	hr.ContentLength = -1
	setTimeout(hr.Header, target.Timeout)
	s := &GRPCStream{ctx: ctx, cancel: func() { cancel(context.Canceled) }, wake: make(chan struct{}, 1), writer: pw}
	go s.write()
	go s.read(c, hr, h, target.Timeout, cancel)
	return s, nil
}

// Send queues one message; end half-closes the stream after it.
func (s *GRPCStream) Send(msg []byte, end bool) {
	frame := make([]byte, 5+len(msg))
	binary.BigEndian.PutUint32(frame[1:5], uint32(len(msg)))
	copy(frame[5:], msg)
	s.mu.Lock()
	if !s.ended {
		s.queue = append(s.queue, frame)
		s.ended = end
	}
	s.mu.Unlock()
	s.signal()
}

// CloseSend half-closes the stream: the server sees the end of the request.
func (s *GRPCStream) CloseSend() {
	s.mu.Lock()
	s.ended = true
	s.mu.Unlock()
	s.signal()
}

// Cancel resets the stream.
func (s *GRPCStream) Cancel() {
	s.cancel()
	s.signal()
}

func (s *GRPCStream) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// write copies queued frames into the request body until the half close or a reset.
func (s *GRPCStream) write() {
	for {
		s.mu.Lock()
		q, ended := s.queue, s.ended
		s.queue = nil
		s.mu.Unlock()
		for _, f := range q {
			if _, err := s.writer.Write(f); err != nil {
				return
			}
		}
		if ended {
			s.writer.Close()
			return
		}
		select {
		case <-s.wake:
		case <-s.ctx.Done():
			s.writer.CloseWithError(s.ctx.Err())
			return
		}
	}
}

func (s *GRPCStream) read(c *Client, hr *http.Request, h GRPCHandler, timeout time.Duration, cancel context.CancelCauseFunc) {
	defer s.cancel()
	fail := func(code uint32, msg string) {
		h.TrailingMetadata(nil)
		h.Close(code, msg)
	}
	err := c.waitReady(s.ctx)
	if err == nil && timeout > 0 {
		t := time.AfterFunc(timeout+TimeoutGrace, func() { cancel(context.DeadlineExceeded) })
		defer t.Stop()
	}
	var res *http.Response
	if err == nil {
		res, err = c.hc.Do(hr)
	}
	if err != nil {
		h.InitialMetadata(nil)
		s.failWith(CodeUnavailable, fmt.Sprintf("callout gateway %s: %v", c.addr, err), fail)
		return
	}
	defer res.Body.Close()
	// The gateway reports its response code details (via_upstream, or why it answered
	// itself); the header is not part of the metadata.
	details := "via_upstream"
	if d, ok := res.Header[DetailsHeader]; ok {
		details = strings.Join(d, ",")
		delete(res.Header, DetailsHeader)
	}
	headers := responseHeaders(res)
	if _, trailersOnly := res.Header["Grpc-Status"]; trailersOnly {
		h.InitialMetadata(nil)
		h.TrailingMetadata(headers)
		h.Close(status(res.Header, details))
		return
	}
	if res.StatusCode != http.StatusOK {
		h.InitialMetadata(nil)
		fail(HTTPToGRPC(res.StatusCode), "")
		return
	}
	h.InitialMetadata(headers)
	var hdr [5]byte
	for {
		if _, err := io.ReadFull(res.Body, hdr[:]); err != nil {
			if err == io.EOF {
				break
			}
			s.readFailed(err, fail)
			return
		}
		n := binary.BigEndian.Uint32(hdr[1:])
		if n > MaxGRPCMessage {
			fail(CodeResourceExhaust, fmt.Sprintf("received message of %d bytes exceeds %d", n, MaxGRPCMessage))
			return
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(res.Body, msg); err != nil {
			s.readFailed(err, fail)
			return
		}
		if n > 0 && hdr[0] != 0 {
			fail(CodeInternal, "compressed message: no compression was negotiated")
			return
		}
		h.Message(msg)
	}
	if len(res.Trailer) == 0 {
		fail(CodeUnknown, "") // the stream ended without trailers
		return
	}
	h.TrailingMetadata(pairs(res.Trailer))
	h.Close(status(res.Trailer, details))
}

// failWith closes with the stream's own deadline or cancellation when it has one, else with
// code and msg.
func (s *GRPCStream) failWith(code uint32, msg string, fail func(uint32, string)) {
	switch {
	case errors.Is(context.Cause(s.ctx), context.DeadlineExceeded):
		fail(CodeDeadlineExceeded, "upstream request timeout")
	case s.ctx.Err() != nil:
		fail(CodeCanceled, "canceled")
	default:
		fail(code, msg)
	}
}

func (s *GRPCStream) readFailed(err error, fail func(uint32, string)) {
	s.failWith(CodeInternal, err.Error(), fail)
}

// status reads grpc-status (missing or malformed: UNKNOWN) and grpc-message, which Envoy's
// client passes on as sent (percent-encoded) with the response code details appended
// (enhancedGrpcMessage): "message{details}", or the details alone.
func status(h http.Header, details string) (uint32, string) {
	code := uint32(CodeUnknown)
	if v := h.Get("Grpc-Status"); v != "" {
		if n, err := strconv.ParseUint(v, 10, 32); err == nil {
			code = uint32(n)
		}
	}
	msg := h.Get("Grpc-Message")
	switch {
	case details == "":
	case msg == "":
		msg = details
	default:
		msg += "{" + details + "}"
	}
	return code, msg
}

// HTTPToGRPC maps the HTTP status of a non-gRPC answer to a gRPC status
// (https://github.com/grpc/grpc/blob/master/doc/http-grpc-status-mapping.md, as Envoy's
// Grpc::Utility::httpToGrpcStatus).
func HTTPToGRPC(code int) uint32 {
	return uint32(core.HTTPToGRPCStatus(int64(code)))
}
