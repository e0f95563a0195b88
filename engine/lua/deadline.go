package lua

import (
	"context"
	"errors"
	"runtime/metrics"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// deadline is a reusable context.Context bounding one call into a state by the CPU time its
// OS thread spends in it (wall-clock backstop), and its allocations; allocation-free per call.
// How and why: RATIONALE.md, "The call deadline".
type deadline struct {
	timer *time.Timer

	mu      sync.Mutex
	done    chan struct{}
	fired   bool
	armed   bool
	clock   int32         // the calling thread's CPU clock id (0: unknown, wall clock only)
	cpu0    int64         // that clock at the call's first check, ns
	cpuPre  time.Duration // CPU assumed used before the first check (at most its wall time)
	cpuSet  bool          // cpu0 is set
	wall0   time.Time     // wall clock at arm
	budget  time.Duration // CPU budget of the call
	wallCap time.Duration // wall-clock backstop of the call
	memMax  uint64        // allocation budget of the call (0: none)
	memBase uint64        // process allocations at the call's first check
	memSet  bool          // memBase is set
	memHit  bool          // the deadline fired on memory
	sample  [1]metrics.Sample
	next    uint64
	funcs   map[uint64]func()
}

var _ context.Context = (*deadline)(nil)

// minRecheck is the shortest interval at which a running call's CPU time is re-checked.
const minRecheck = time.Millisecond

// memCheckEvery is the interval at which a long call's allocations are checked.
const memCheckEvery = time.Millisecond

// errCallMemory is the context error of a call that allocated past its budget.
var errCallMemory = errors.New("call memory bound exceeded")

func newDeadline() *deadline {
	d := &deadline{done: make(chan struct{})}
	d.sample[0].Name = "/gc/heap/allocs:bytes"
	d.timer = time.AfterFunc(time.Hour, d.fire)
	d.timer.Stop()
	return d
}

// threadCPUClock is the clock id of the calling thread's CPU-time clock
// (MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED) in the kernel: CPUCLOCK_PERTHREAD_MASK 4 |
// CPUCLOCK_SCHED 2), which, unlike CLOCK_THREAD_CPUTIME_ID, another thread can read.
func threadCPUClock() int32 { return int32((^uint32(unix.Gettid()))<<3 | 6) }

// cpuNanos reads a CPU clock; ok is false when the clock cannot be read (the thread is gone).
func cpuNanos(clock int32) (ns int64, ok bool) {
	var ts unix.Timespec
	if unix.ClockGettime(clock, &ts) != nil {
		return 0, false
	}
	return ts.Nano(), true
}

// wallCapFor is the wall-clock backstop of a call bounded by budget CPU time.
func wallCapFor(budget time.Duration) time.Duration {
	c := 10 * budget
	if c < time.Second {
		c = time.Second
	}
	return c
}

// arm starts the clock for one call made on the calling (locked) OS thread; memMax bounds the
// bytes allocated during the call (0: unbounded).
//
// The thread's CPU clock is first read at the call's first check (memCheckEvery into it), not
// here, which keeps a short call to one cheap syscall (gettid); the CPU spent before that check
// is assumed to be all of its wall time (at most memCheckEvery), so a busy call is stopped
// within a millisecond of its budget and a descheduled one is never charged for waiting.
func (d *deadline) arm(budget time.Duration, memMax uint64) {
	clock := threadCPUClock()
	var cpu0 int64
	exact := false
	if budget <= 2*memCheckEvery {
		// A budget this small cannot afford the first-check assumption: read the base now.
		cpu0, exact = cpuNanos(clock)
	}
	d.mu.Lock()
	d.armed = true
	d.clock, d.cpuSet, d.cpu0, d.cpuPre = clock, exact, cpu0, 0
	d.wall0 = time.Now()
	d.budget, d.wallCap = budget, wallCapFor(budget)
	d.memMax, d.memSet, d.memHit = memMax, false, false
	d.mu.Unlock()
	d.timer.Reset(min(budget, memCheckEvery))
}

// disarm stops the clock; it reports whether the deadline fired during the call.
func (d *deadline) disarm() bool {
	d.mu.Lock()
	d.armed = false
	fired := d.fired
	d.mu.Unlock()
	d.timer.Stop()
	return fired
}

// fire runs on the timer's goroutine: it fires the context when the armed call used its CPU
// budget (or hit the wall-clock cap), and re-arms the timer for the rest of the budget
// otherwise. A stale expiry (from an earlier call) is re-checked against the current call.
func (d *deadline) fire() {
	d.mu.Lock()
	if !d.armed || d.fired {
		d.mu.Unlock()
		return
	}
	wall := time.Since(d.wall0)
	if wall < d.wallCap {
		used := wall
		if d.clock != 0 {
			if now, ok := cpuNanos(d.clock); ok {
				if !d.cpuSet {
					d.cpu0, d.cpuSet, d.cpuPre = now, true, min(wall, memCheckEvery)
				}
				used = d.cpuPre + time.Duration(now-d.cpu0)
			}
		}
		overMem := false
		if d.memMax > 0 {
			metrics.Read(d.sample[:])
			if a := d.sample[0].Value.Uint64(); !d.memSet {
				d.memBase, d.memSet = a, true
			} else if a-d.memBase > d.memMax {
				overMem = true
			}
		}
		if used < d.budget && !overMem {
			wait := d.budget - used
			if d.memMax > 0 && wait > memCheckEvery {
				wait = memCheckEvery
			}
			if wait < minRecheck {
				wait = minRecheck
			}
			if rest := d.wallCap - wall; wait > rest {
				wait = rest
			}
			d.timer.Reset(wait)
			d.mu.Unlock()
			return
		}
		d.memHit = overMem && used < d.budget
	}
	d.fired = true
	close(d.done)
	funcs := d.funcs
	d.funcs = nil
	d.mu.Unlock()
	for _, f := range funcs {
		go f()
	}
}

// check runs the timer's check on the calling goroutine. A long library call (strlib.go) calls
// it now and then: the timer goroutine needs a free P to run, and with every P held by a
// worker running Lua it would only run when the Go scheduler preempts one, tens of ms late.
func (d *deadline) check() { d.fire() }

// checker checks a bound synchronously (implemented by *deadline).
type checker interface{ check() }

// hasFired reports whether the deadline has fired (and not been reset since).
func (d *deadline) hasFired() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fired
}

// reset makes a fired deadline usable again (a new done channel). It is called between calls,
// when a deadline fired after the script's last instruction: the call completed, so the
// coroutine (which may wait for an event) must not fail on its next resume.
func (d *deadline) reset() {
	d.mu.Lock()
	if d.fired {
		d.fired = false
		d.done = make(chan struct{})
	}
	d.mu.Unlock()
}

// stop releases the timer of a discarded state.
func (d *deadline) stop() { d.timer.Stop() }

func (d *deadline) Deadline() (time.Time, bool) { return time.Time{}, false }

// Done is read by gopher-lua at every instruction, on the calling goroutine; the channel is
// only replaced (reset) between calls on that same goroutine.
func (d *deadline) Done() <-chan struct{} { return d.done }
func (d *deadline) Value(any) any         { return nil }

func (d *deadline) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case !d.fired:
		return nil
	case d.memHit:
		return errCallMemory
	}
	return context.DeadlineExceeded
}

// memoryHit reports whether the deadline fired on the allocation budget.
func (d *deadline) memoryHit() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fired && d.memHit
}

// AfterFunc runs f when the deadline fires; the returned stop unregisters it.
func (d *deadline) AfterFunc(f func()) (stop func() bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fired {
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
