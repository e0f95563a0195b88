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
