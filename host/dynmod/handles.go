package dynmod

import (
	"sync"
	"sync/atomic"
)

// handleTable maps the handles Envoy holds for live objects (one per HTTP stream) to the
// objects. It does what cgo.Handle does for streams, cheaper: a lookup, made by every event
// of a stream, is two atomic loads instead of a sync.Map lookup, and adding or removing an
// entry takes an uncontended lock and allocates nothing once the table has grown. Slots are
// reused (most recently freed first); a handle is its slot index plus one, so 0 is never a
// handle.
//
// Looking up a handle that is not live returns nil or panics (the hooks recover); Envoy
// never uses a stream's handle after on_http_filter_destroy.
type handleTable[T any] struct {
	mu    sync.Mutex
	free  []uint32 // released slots
	next  uint32   // slots handed out so far
	pages [handlePages]atomic.Pointer[handlePage[T]]
}

type handlePage[T any] [handlePageSize]atomic.Pointer[T]

const (
	handlePageBits = 10
	handlePageSize = 1 << handlePageBits
	handlePages    = 1 << 12 // up to 4 Mi live entries
)

// add stores v and returns its handle; false when the table is full.
func (t *handleTable[T]) add(v *T) (uintptr, bool) {
	t.mu.Lock()
	var i uint32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		if t.next == handlePages*handlePageSize {
			t.mu.Unlock()
			return 0, false
		}
		i = t.next
		t.next++
		if i%handlePageSize == 0 {
			t.pages[i>>handlePageBits].Store(new(handlePage[T]))
		}
	}
	t.mu.Unlock()
	t.slot(i).Store(v)
	return uintptr(i) + 1, true
}

func (t *handleTable[T]) slot(i uint32) *atomic.Pointer[T] {
	return &t.pages[i>>handlePageBits].Load()[i&(handlePageSize-1)]
}

// get returns the object of a live handle.
func (t *handleTable[T]) get(h uintptr) *T { return t.slot(uint32(h - 1)).Load() }

// remove releases a live handle.
func (t *handleTable[T]) remove(h uintptr) {
	i := uint32(h - 1)
	t.slot(i).Store(nil)
	t.mu.Lock()
	t.free = append(t.free, i)
	t.mu.Unlock()
}
