package lua

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trafficext/trafficext/core"
)

// spin burns the calling thread's CPU for about d.
func spin(d time.Duration) {
	clock := threadCPUClock()
	start, _ := cpuNanos(clock)
	for {
		now, _ := cpuNanos(clock)
		if time.Duration(now-start) >= d {
			return
		}
	}
}

func TestThreadCPUClock(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	clock := threadCPUClock()
	a, ok := cpuNanos(clock)
	if !ok {
		t.Fatal("cannot read the thread CPU clock")
	}
	time.Sleep(20 * time.Millisecond)
	b, _ := cpuNanos(clock)
	if d := time.Duration(b - a); d > 5*time.Millisecond {
		t.Errorf("sleeping used %v of thread CPU", d)
	}
	spin(10 * time.Millisecond)
	c, _ := cpuNanos(clock)
	if d := time.Duration(c - b); d < 10*time.Millisecond || d > 200*time.Millisecond {
		t.Errorf("spinning 10ms measured %v", d)
	}
	// Another thread reads the same clock (that is what the timer goroutine does).
	var other int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		other, _ = cpuNanos(clock)
	}()
	wg.Wait()
	if other < c {
		t.Errorf("clock read from another thread: %d < %d", other, c)
	}
}

func TestDeadline_CPUNotWall(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	d := newDeadline()
	defer d.stop()
	d.arm(5*time.Millisecond, 0)
	time.Sleep(40 * time.Millisecond) // wall time well past the budget, no CPU used
	if d.Err() != nil {
		t.Fatal("deadline fired on wall time")
	}
	spin(30 * time.Millisecond)
	select {
	case <-d.Done():
	case <-time.After(time.Second):
		t.Fatal("deadline did not fire after the CPU budget")
	}
	if !d.disarm() || d.Err() != context.DeadlineExceeded {
		t.Fatal("disarm does not report the fire")
	}
	d.reset()
	if d.Err() != nil || d.hasFired() {
		t.Fatal("reset")
	}
	select {
	case <-d.Done():
		t.Fatal("reset kept a closed channel")
	default:
	}
}

func TestDeadline_WallCap(t *testing.T) {
	if testing.Short() {
		t.Skip("sleeps past the 1s wall cap")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	d := newDeadline()
	defer d.stop()
	start := time.Now()
	d.arm(time.Millisecond, 0)
	select {
	case <-d.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("wall cap did not fire")
	}
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Errorf("fired after %v, before the 1s cap", el)
	}
	d.disarm()
}

func TestDeadline_NoFireAfterDisarm(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	d := newDeadline()
	defer d.stop()
	for i := 0; i < 200; i++ {
		d.arm(time.Microsecond, 0)
		spin(20 * time.Microsecond)
		d.disarm()
		d.reset()
		time.Sleep(50 * time.Microsecond) // a stale expiry must find the deadline disarmed
		if d.hasFired() {
			t.Fatal("fired while disarmed")
		}
	}
}

// TestTimeout_CPUBound: a cheap script whose thread blocks (a host call sleeping past the
// budget) or is descheduled by busy sibling goroutines does not time out; a loop still does.
func TestTimeout_CPUBound(t *testing.T) {
	p, h := load(t, `function envoy_on_request(r)
  r:logInfo("blocking host call")
  r:headers():add("x-done", "1")
end`, Options{CallTimeout: 2 * time.Millisecond})
	s := newStream()
	s.LogSleep = 30 * time.Millisecond
	roundTrip(t, p, s)
	if errorsCounted(s, h) != 0 {
		t.Fatalf("blocked thread timed out:\n%s", s.LogText())
	}
	if _, ok := s.ReqH.Get("x-done"); !ok {
		t.Fatal("script did not finish")
	}

	// Busy siblings take the Ps: the hook's goroutine is preempted and waits, its thread CPU
	// does not advance.
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := 0
			for !stop.Load() {
				x++
			}
			_ = x
		}()
	}
	p2, h2 := load(t, `function envoy_on_request(r)
  local n = 0
  for i = 1, 2000 do n = n + i end
  r:headers():add("x-sum", tostring(n))
end`, Options{CallTimeout: 5 * time.Millisecond})
	errs := uint64(0)
	for i := 0; i < 300; i++ {
		s := newStream()
		roundTrip(t, p2, s)
		errs += errorsCounted(s, h2)
	}
	stop.Store(true)
	wg.Wait()
	if errs != 0 {
		t.Fatalf("%d cheap calls timed out under contention", errs)
	}

	// An infinite loop still times out, counted once in each counter.
	p3, h3 := load(t, `function envoy_on_request(r) r:headers():add("x-before", "1") while true do end end`,
		Options{CallTimeout: 5 * time.Millisecond})
	s = newStream()
	start := time.Now()
	roundTrip(t, p3, s)
	if el := time.Since(start); el > time.Second {
		t.Errorf("loop ran %v", el)
	}
	if errorsCounted(s, h3) != 1 || timeoutsCounted(s, h3) != 1 || !s.Logged("context deadline exceeded (call timeout 5ms CPU time)") {
		t.Fatalf("counters %d/%d logs:\n%s", errorsCounted(s, h3), timeoutsCounted(s, h3), s.LogText())
	}
}

// TestTimeout_CountedOnce: a timeout during a resume (after body()) counts one error and one
// timeout, and the state is discarded.
func TestTimeout_CountedOnce(t *testing.T) {
	p, h := load(t, `function envoy_on_request(r)
  local b = r:body()
  while true do end
end`, Options{CallTimeout: 3 * time.Millisecond})
	s := newStream()
	s.ReqBody = &fakeBuffer{Data: []byte("x")}
	f := p.NewFilter(s)
	if st := f.OnRequestHeaders(false); st != core.StopIteration {
		t.Fatalf("headers: %v", st)
	}
	if st := f.OnRequestBody(true); st != core.Continue {
		t.Fatalf("body: %v", st)
	}
	f.OnDestroy()
	if errorsCounted(s, h) != 1 || timeoutsCounted(s, h) != 1 {
		t.Fatalf("counters %d/%d logs:\n%s", errorsCounted(s, h), timeoutsCounted(s, h), s.LogText())
	}
	if p.idle() != 0 {
		t.Errorf("timed-out state went back to the pool")
	}
}

// TestTopLevelTimeout_CountsTimeout: a state created for a stream whose top level runs out of
// its bound counts a timeout, not only an error.
func TestTopLevelTimeout_CountsTimeout(t *testing.T) {
	p, h := load(t, `
n = (n or 0)
calls = 0
function envoy_on_request(r) end
`, Options{CallTimeout: 3 * time.Millisecond})
	// Make every further state's top level loop: swap the prototype for a looping one.
	loop, err := compile("while true do end function envoy_on_request(r) end")
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	p.closed = false
	p.proto = loop
	s := newStream()
	roundTrip(t, p, s)
	if errorsCounted(s, h) != 1 || timeoutsCounted(s, h) != 1 {
		t.Fatalf("counters %d/%d logs:\n%s", errorsCounted(s, h), timeoutsCounted(s, h), s.LogText())
	}
}

// TestMemoryBound: a call that allocates past its budget fails (an error, not a timeout)
// before the CPU bound, and a cheap allocating call does not.
func TestMemoryBound(t *testing.T) {
	p, h := load(t, `function envoy_on_request(r)
  r:headers():add("x-before", "1")
  local s = "x"
  while true do s = s .. s end
end`, Options{CallTimeout: 5 * time.Second, MaxCallAlloc: 32 << 20})
	s := newStream()
	start := time.Now()
	roundTrip(t, p, s)
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("took %v", el)
	}
	if errorsCounted(s, h) != 1 || timeoutsCounted(s, h) != 0 || !s.Logged("call memory bound exceeded (32 MiB allocated in one call)") {
		t.Fatalf("counters %d/%d logs:\n%s", errorsCounted(s, h), timeoutsCounted(s, h), s.LogText())
	}
	p2, h2 := load(t, `function envoy_on_request(r)
  local t = {}
  for i = 1, 1000 do t[i] = tostring(i) end
end`, Options{MaxCallAlloc: 32 << 20})
	for i := 0; i < 50; i++ {
		s := newStream()
		roundTrip(t, p2, s)
		if errorsCounted(s, h2) != 0 {
			t.Fatalf("logs:\n%s", s.LogText())
		}
	}
}

// TestRespond_ThroughResponseHook: respond()'s reply goes through envoy_on_response (as in
// Envoy) before it reaches the host, and the hook does not run again if the host calls back.
func TestRespond_ThroughResponseHook(t *testing.T) {
	p, h := load(t, `
function envoy_on_request(r)
  r:respond({[":status"] = "403", ["x-a"] = "1"}, "denied")
end
function envoy_on_response(r)
  local hs = r:headers()
  hs:add("x-seen", hs:get(":status") .. "|" .. hs:get("content-type") .. "|" .. hs:get("content-length"))
  hs:replace(":status", "401")
  r:body():setBytes("rewritten")
end`)
	s := newStream()
	f := p.NewFilter(s)
	if st := f.OnRequestHeaders(true); st != core.Replied {
		t.Fatalf("status %v", st)
	}
	f.OnResponseHeaders(true) // a host that calls back anyway
	f.OnDestroy()
	if len(s.Replies) != 1 {
		t.Fatalf("replies %d", len(s.Replies))
	}
	r := s.Replies[0]
	got := map[string]string{}
	for _, e := range r.Headers {
		got[e.Key] = e.Value
	}
	if r.Status != 401 || string(r.Body) != "rewritten" || got["x-a"] != "1" || got["x-seen"] != "403|text/plain|6" {
		t.Fatalf("reply %d %q %v; logs:\n%s", r.Status, r.Body, r.Headers, s.LogText())
	}
	if _, ok := s.RespH.Get("x-seen"); ok {
		t.Error("the response hook ran twice")
	}
	if errorsCounted(s, h) != 0 {
		t.Fatalf("logs:\n%s", s.LogText())
	}
}
