package coretest

import (
	"reflect"
	"testing"

	"github.com/trafficext/trafficext/core"
)

func TestHeaders(t *testing.T) {
	h := NewHeaders("a", "1", "b", "2", "a", "3")
	if v, ok := h.Get("a"); !ok || v != "1" {
		t.Errorf("Get(a) = %q %v", v, ok)
	}
	if got := h.Values("a"); !reflect.DeepEqual(got, []string{"1", "3"}) {
		t.Errorf("Values(a) = %v", got)
	}
	h.Set("a", "9")
	h.Add("c", "4")
	h.Remove("b")
	want := []core.Header{{Key: "a", Value: "9"}, {Key: "c", Value: "4"}}
	if got := h.All(); !reflect.DeepEqual(got, want) || h.Len() != 2 {
		t.Errorf("All() = %v", got)
	}
}

func TestBuffer(t *testing.T) {
	var b Buffer
	b.Append([]byte("hello"))
	b.Drain(2)
	if string(b.Bytes()) != "llo" || b.Len() != 3 {
		t.Fatalf("got %q", b.Bytes())
	}
	b.Drain(10)
	b.Set([]byte("x"))
	if string(b.Bytes()) != "x" {
		t.Fatalf("got %q", b.Bytes())
	}
}

func TestStream_QueuesAndPumps(t *testing.T) {
	s := NewStream()
	s.QueuePosts = true
	s.Clusters = map[string]bool{"known": true}
	if err := s.HTTPCall(core.CalloutRequest{Cluster: "unknown"}, func(core.CalloutResponse) {}); err == nil {
		t.Fatal("a call to an unknown cluster was accepted")
	}
	got := ""
	if err := s.HTTPCall(core.CalloutRequest{Cluster: "known"}, func(r core.CalloutResponse) { got += string(r.Body) }); err != nil {
		t.Fatal(err)
	}
	s.Post(func() { got += "posted," })
	if got != "" {
		t.Fatalf("work ran before Pump: %q", got)
	}
	s.Pump(func(req core.CalloutRequest) core.CalloutResponse {
		return core.CalloutResponse{Body: []byte(req.Cluster)}
	})
	if got != "posted,known" {
		t.Errorf("pumped %q, want posted,known", got)
	}
	if s.Reply() != nil {
		t.Fatal("reply before any was sent")
	}
	s.SendLocalReply(core.LocalReply{Status: 403})
	s.SendLocalReply(core.LocalReply{Status: 500})
	if r := s.Reply(); r == nil || r.Status != 500 || len(s.Replies) != 2 {
		t.Errorf("Reply = %+v of %d, want the last (500) of 2", r, len(s.Replies))
	}
	s.Log(core.LogInfo, "hello world")
	if !s.Logged("lo wo") || s.Logged("absent") {
		t.Errorf("Logged wrong over %q", s.LogText())
	}
}
