package golang

import (
	"slices"
	"strconv"
	"testing"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/trafficext/trafficext/host/contract"
)

// chainResult is what one request through the fake chain produced.
type chainResult struct {
	contract.Result
	req *fakeRequest
}

// runChain sends req through one golang filter per config (created by factory, as Envoy
// does), an upstream answering up, and back. The decode side is simplified to "headers, then
// the whole body as one chunk" per filter, which is what the golang filter delivers for a
// single-chunk body whether the filter buffered or not.
func runChain(t testing.TB, factory api.StreamFilterFactory, configs []any, c contract.Case) chainResult {
	t.Helper()
	c = c.Normalize()
	r := &fakeRequest{
		t:           t,
		metadata:    map[string]map[string]*structpb.Value{},
		filterState: map[string]string{},
		reqBody:     []byte(c.Request.Body),
		reqHeaders: &headerStore{entries: []contract.Header{
			{Name: ":method", Value: c.Request.Method},
			{Name: ":scheme", Value: "http"},
			{Name: ":authority", Value: c.Request.Authority},
			{Name: ":path", Value: c.Request.Path},
		}},
	}
	r.reqHeaders.entries = append(r.reqHeaders.entries, c.Request.Headers...)
	slots := make([]*slot, len(configs))
	for i, cfg := range configs {
		s := &slot{req: r, index: i, events: make(chan event, 4)}
		s.filter = factory(cfg, fakeCallbacks{s})
		slots[i] = s
	}

	var res chainResult
	res.req = r
	var reply *localReply
	for _, s := range slots {
		if reply = r.pass(s, decoding); reply != nil {
			break
		}
	}
	if reply == nil {
		res.UpstreamReached = true
		res.UpstreamHeaders = r.reqHeaders.asMap(false)
		r.respHeaders = &headerStore{entries: []contract.Header{{Name: ":status", Value: strconv.Itoa(c.Upstream.Status)}}}
		r.respHeaders.entries = append(r.respHeaders.entries, c.Upstream.Headers...)
		r.respBody = []byte(c.Upstream.Body)
		if c.Upstream.Body == "" {
			r.respBody = slices.Clone(r.reqBody)
		}
	} else {
		r.respond(reply)
	}
	// A local reply sent while decoding passes every encoder filter, as in Envoy's
	// sendLocalReplyViaFilterChain; one sent while encoding replaces the response.
	for i := len(slots) - 1; i >= 0; i-- {
		if reply := r.pass(slots[i], encoding); reply != nil {
			r.respond(reply)
			break
		}
	}
	for _, s := range slots {
		s.filter.OnStreamComplete()
		s.filter.OnDestroy(api.Normal)
	}

	res.Headers = r.respHeaders.asMap(false)
	res.Status, _ = strconv.Atoi(r.respHeaders.values(":status")[0])
	res.Body = string(r.respBody)
	return res
}

func (r *fakeRequest) respond(l *localReply) {
	r.respHeaders = &headerStore{entries: []contract.Header{{Name: ":status", Value: strconv.Itoa(l.status)}}}
	keys := make([]string, 0, len(l.headers))
	for k := range l.headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range l.headers[k] {
			r.respHeaders.entries = append(r.respHeaders.entries, contract.Header{Name: k, Value: v})
		}
	}
	r.respBody = []byte(l.body)
}

// pass runs filter s over direction d: headers, then the body if any. It returns the local
// reply the filter sent, if it did.
func (r *fakeRequest) pass(s *slot, d direction) *localReply {
	store, body := r.reqHeaders, &r.reqBody
	if d == encoding {
		store, body = r.respHeaders, &r.respBody
	}
	end := len(*body) == 0
	h := &fakeHeaders{s: s, dir: d, store: store}
	r.setLive(s, d, true, false)
	st := s.await(d, s.call(d, func() api.StatusType {
		if d == encoding {
			return s.filter.EncodeHeaders(h, end)
		}
		return s.filter.DecodeHeaders(h, end)
	}))
	switch {
	case st == api.LocalReply:
		return s.reply
	case st == api.Continue:
		r.setLive(s, d, false, false)
	case (st == api.StopAndBuffer || st == api.StopAndBufferWatermark) && !end:
		// headers stay writable until the body is done
	default:
		r.t.Errorf("filter %d direction %d: headers status %d (endStream %v); the golang filter fails the stream", s.index, d, st, end)
		return &localReply{status: 500, body: "unexpected header status"}
	}
	if end {
		return nil
	}
	r.setLive(s, d, s.live[d], true)
	buf := &fakeBuffer{s: s, dir: d, body: body}
	st = s.await(d, s.call(d, func() api.StatusType {
		if d == encoding {
			return s.filter.EncodeData(buf, true)
		}
		return s.filter.DecodeData(buf, true)
	}))
	switch st {
	case api.LocalReply:
		return s.reply
	case api.Continue:
		r.setLive(s, d, false, false)
		return nil
	}
	r.t.Errorf("filter %d direction %d: data status %d at the end of the stream; Envoy would stall", s.index, d, st)
	return &localReply{status: 500, body: "stalled"}
}

func (r *fakeRequest) setLive(s *slot, d direction, headers, buffer bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s.live[d], s.bufLive[d] = headers, buffer
}
