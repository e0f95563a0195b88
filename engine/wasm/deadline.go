package wasm

import (
	"context"
	"sync"
	"time"
)

// callDeadline is the context of every call into one VM of a module the meter could not
// instrument: it carries the VM and bounds the call by wall-clock time through wazero's
// termination checks, without allocating per call (RATIONALE.md, "The call deadline ...").
type callDeadline struct {
	v     *vm
	timer *time.Timer
	done  chan struct{}

	mu     sync.Mutex
	armed  bool
	fired  bool
	start  time.Time
	budget time.Duration
}

var _ context.Context = (*callDeadline)(nil)

func newCallDeadline(v *vm) *callDeadline {
	d := &callDeadline{v: v, done: make(chan struct{})}
	d.timer = time.AfterFunc(time.Hour, d.fire)
	d.timer.Stop()
	return d
}

// arm starts the clock for one call (budget > 0).
func (d *callDeadline) arm(budget time.Duration) {
	d.mu.Lock()
	d.armed, d.start, d.budget = true, time.Now(), budget
	d.mu.Unlock()
	d.timer.Reset(budget)
}

// disarm stops the clock; it reports whether the deadline fired during the call.
func (d *callDeadline) disarm() bool {
	d.timer.Stop()
	d.mu.Lock()
	d.armed = false
	fired := d.fired
	d.mu.Unlock()
	return fired
}

// fire runs on the timer's goroutine. An expiry left over from an earlier call (Stop cannot
// recall a callback already started) is checked against the current call's start and
// re-armed for the rest of its budget.
func (d *callDeadline) fire() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.armed || d.fired {
		return
	}
	if rest := d.budget - time.Since(d.start); rest > 0 {
		d.timer.Reset(rest)
		return
	}
	d.fired = true
	close(d.done)
}

// stop releases the timer of a closed VM.
func (d *callDeadline) stop() { d.timer.Stop() }

func (d *callDeadline) Deadline() (time.Time, bool) { return time.Time{}, false }

// Done is read by wazero at the start of each call and by its watchdog goroutine; the
// channel never changes.
func (d *callDeadline) Done() <-chan struct{} { return d.done }

func (d *callDeadline) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fired {
		return context.DeadlineExceeded
	}
	return nil
}

func (d *callDeadline) Value(key any) any {
	if _, ok := key.(vmKey); ok {
		return d.v
	}
	return nil
}
