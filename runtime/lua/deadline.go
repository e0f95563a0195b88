package lua

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// deadline is a reusable context.Context bounding one call into a state. It is armed before a
// call and disarmed after it, so a steady-state call allocates nothing (context.WithTimeout
// would allocate a context, a timer and a channel per call). Once it has fired it stays done:
// the state that owns it is discarded.
//
// It implements AfterFunc so that context.WithCancel (used by gopher-lua for coroutines the
// script creates) registers a callback instead of starting a goroutine per coroutine.
type deadline struct {
	done  chan struct{}
	timer *time.Timer
	fired atomic.Bool

	mu    sync.Mutex
	next  uint64
	funcs map[uint64]func()
}

var _ context.Context = (*deadline)(nil)

func newDeadline() *deadline {
	d := &deadline{done: make(chan struct{})}
	d.timer = time.AfterFunc(time.Hour, d.fire)
	d.timer.Stop()
	return d
}

func (d *deadline) fire() {
	d.mu.Lock()
	if d.fired.Load() {
		d.mu.Unlock()
		return
	}
	d.fired.Store(true)
	close(d.done)
	funcs := d.funcs
	d.funcs = nil
	d.mu.Unlock()
	for _, f := range funcs {
		go f()
	}
}

// arm starts the clock for one call.
func (d *deadline) arm(t time.Duration) { d.timer.Reset(t) }

// disarm stops the clock; it reports whether the deadline has fired (during the call or
// racing with its end).
func (d *deadline) disarm() bool {
	if d.timer.Stop() {
		return false
	}
	return true
}

// stop releases the timer of a discarded state.
func (d *deadline) stop() { d.timer.Stop() }

func (d *deadline) Deadline() (time.Time, bool) { return time.Time{}, false }
func (d *deadline) Done() <-chan struct{}       { return d.done }
func (d *deadline) Value(any) any               { return nil }

func (d *deadline) Err() error {
	if d.fired.Load() {
		return context.DeadlineExceeded
	}
	return nil
}

// AfterFunc runs f when the deadline fires; the returned stop unregisters it.
func (d *deadline) AfterFunc(f func()) (stop func() bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fired.Load() {
		go f()
		return func() bool { return false }
	}
	if d.funcs == nil {
		d.funcs = make(map[uint64]func())
	}
	id := d.next
	d.next++
	d.funcs[id] = f
	return func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		if _, ok := d.funcs[id]; ok {
			delete(d.funcs, id)
			return true
		}
		return false
	}
}

// pending is the number of registered AfterFunc callbacks.
func (d *deadline) pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.funcs)
}
