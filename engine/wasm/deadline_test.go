package wasm

import (
	"context"
	"testing"
	"time"
)

// TestCallDeadline: arming and disarming allocates nothing; an armed deadline fires Done with
// DeadlineExceeded (what wazero's watchdog needs to close the module); a disarmed one never
// fires, nor does a later call with a longer budget.
func TestCallDeadline(t *testing.T) {
	v := &vm{}
	d := newCallDeadline(v)
	defer d.stop()
	if vmFrom(d) != v || d.Value(vmKey{}) != v || d.Value("other") != nil {
		t.Fatal("the deadline does not carry its VM")
	}
	if n := testing.AllocsPerRun(1000, func() { d.arm(time.Second); d.disarm() }); n != 0 {
		t.Fatalf("arm+disarm allocates %v times", n)
	}
	d2 := newCallDeadline(v)
	defer d2.stop()
	d2.arm(20 * time.Millisecond)
	select {
	case <-d2.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the deadline did not fire")
	}
	if d2.Err() != context.DeadlineExceeded || !d2.disarm() {
		t.Fatalf("after firing: Err %v", d2.Err())
	}

	d3 := newCallDeadline(v)
	defer d3.stop()
	d3.arm(5 * time.Millisecond)
	if d3.disarm() {
		t.Fatal("fired at once")
	}
	d3.arm(time.Hour) // a late expiry of the first arm must not fire this call
	time.Sleep(20 * time.Millisecond)
	select {
	case <-d3.Done():
		t.Fatal("a disarmed deadline fired")
	default:
	}
}
