package wasm

import (
	"context"
	"sync"
	"time"
)

// callDeadline is the context of every call into one VM of a module bounded by wazero's
// termination checks (boundContext: the fallback for a module package meter cannot
// instrument; metered modules use callBudget instead, meter_host.go): it carries the VM
// (vmFrom) and bounds the call in progress by wall-clock time without allocating per call.
//
// wazero (v1.12.0, modules compiled WithCloseOnContextDone) handles a call context as
// follows: callWithStack first closes the module if ctx.Done() is already closed, then always
// starts one watchdog goroutine for the call that waits for ctx.Done() or the call's end, and on
// Done with ctx.Err() == context.DeadlineExceeded closes the module without releasing its
// resources (closeWithExitCodeWithoutClosingResource); the termination checks compiled into
// every loop header (FailIfClosed, on the calling goroutine) then stop the
// guest with sys.ExitError(ExitCodeDeadlineExceeded) and release the resources there. The
// goroutine is started even when Done() is nil (wazero v1.12.0 has no way around it), so the
// deadline does not try to avoid it; what it avoids is context.WithTimeout per call into the
// guest (a context, a timer, a channel and a cancel closure) — arm resets one reusable timer.
// Nested calls (the guest allocator called from a host function) run under the same context.
// Closing the module ourselves from the
// timer (api.Module.CloseWithExitCode) would also stop the guest at its next check, but it
// releases the instance's resources (its WASI state) while the guest is still running on
// another goroutine, which wazero's own path is careful not to do.
//
// A deadline fires at most once in the life of its VM: the call it interrupts fails and the
// VM is discarded (and a call that returned while its deadline fired is failed too, see
// vm.call), so the done channel is never reset.
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
