package shared

import (
	"errors"
	"testing"
)

func TestDataCAS(t *testing.T) {
	s := New[int]()
	if _, _, ok := s.Get("vm", "k"); ok {
		t.Fatal("empty store has k")
	}
	if err := s.Set("vm", "k", []byte("a"), 0); err != nil {
		t.Fatal(err)
	}
	v, cas, ok := s.Get("vm", "k")
	if !ok || string(v) != "a" || cas == 0 {
		t.Fatalf("Get = %q %d %v", v, cas, ok)
	}
	if err := s.Set("vm", "k", []byte("b"), cas+1); !errors.Is(err, ErrCASMismatch) {
		t.Errorf("stale cas: %v", err)
	}
	if err := s.Set("vm", "k", []byte("b"), cas); err != nil {
		t.Errorf("current cas: %v", err)
	}
	if _, _, ok := s.Get("other-vm", "k"); ok {
		t.Error("data leaked across vm ids")
	}
}

func TestQueues(t *testing.T) {
	s := New[string]()
	id := s.Register("vm", "q", "a")
	if s.Register("vm", "q", "a") != id || s.Register("vm", "q", "b") != id {
		t.Fatal("one queue name has several ids")
	}
	if got, ok := s.Resolve("vm", "q"); !ok || got != id {
		t.Fatalf("Resolve = %d %v", got, ok)
	}
	if _, ok := s.Resolve("other", "q"); ok {
		t.Fatal("queue resolved from another vm id")
	}
	owner, ok, err := s.Enqueue(id, []byte("1"), func(o string) bool { return o != "a" })
	if err != nil || !ok || owner != "b" {
		t.Fatalf("Enqueue woke %q %v %v, want b", owner, ok, err)
	}
	s.DropOwners(func(o string) bool { return o != "b" })
	if _, ok, _ := s.Enqueue(id, []byte("2"), func(string) bool { return true }); ok {
		t.Error("a dropped registrant was woken")
	}
	for _, want := range []string{"1", "2"} {
		if b, err := s.Dequeue(id); err != nil || string(b) != want {
			t.Fatalf("Dequeue = %q %v, want %s", b, err, want)
		}
	}
	if _, err := s.Dequeue(id); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty queue: %v", err)
	}
	if _, err := s.Dequeue(id + 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown queue: %v", err)
	}
}
