package wasm

import (
	"context"
	"fmt"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/trafficext/trafficext/engine/wasm/meter"
)

// bound is how the calls into a compiled module are bounded by Options.CallTimeout.
type bound uint8

const (
	// The zero bound: none (Options.CallTimeout < 0).
	_ bound = iota
	// boundFuel: the module was instrumented by package meter and compiled without wazero's
	// termination checks; its refuel calls check the call's callBudget.
	boundFuel
	// boundContext: the fallback for a module meter could not instrument, compiled on a
	// runtime WithCloseOnContextDone and called under the VM's callDeadline.
	boundContext
)

func (b bound) String() string {
	return [...]string{"none", "fuel", "context"}[b]
}

// callBudget bounds the guest call in progress on a metered VM by wall-clock time. The VM
// starts it when it enters a guest call (begin) and the guest's refuel calls check it, on the
// calling goroutine, about every meter.Fuel loop iterations or function calls; nested calls
// (the guest allocator called from a host function) share the outer call's budget. Only the
// holder of the VM lock touches it, so it needs no lock, no timer and no goroutine.
type callBudget struct {
	start    time.Time
	limit    time.Duration // 0: no call in progress
	exceeded bool
}

// begin starts the clock for one call (limit > 0).
func (b *callBudget) begin(limit time.Duration) {
	b.start, b.limit = time.Now(), limit
}

// end stops the clock; it reports whether the call ran out of time (a refuel failed), even
// if the guest swallowed that failure (a host function whose allocator call failed).
func (b *callBudget) end() bool {
	b.limit = 0
	return b.exceeded
}

// check fails once the call in progress has used up its budget.
func (b *callBudget) check() error {
	if b.limit <= 0 {
		return nil
	}
	if d := time.Since(b.start); d > b.limit || b.exceeded {
		b.exceeded = true
		return fmt.Errorf("%w (%v, ran %v)", errCallTimeout, b.limit, d.Round(time.Millisecond))
	}
	return nil
}

// instantiateMeter provides the meter.ImportModule module: refuel stops a guest whose call
// exceeded its budget by panicking, which wazero turns into the error of the call into the
// guest (the VM is then discarded).
func instantiateMeter(ctx context.Context, rt wazero.Runtime) error {
	_, err := rt.NewHostModuleBuilder(meter.ImportModule).NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(refuel), nil, nil).
		Export(meter.ImportName).
		Instantiate(ctx)
	if err != nil {
		return fmt.Errorf("instantiating the %s module: %w", meter.ImportModule, err)
	}
	return nil
}

func refuel(ctx context.Context, _ api.Module, _ []uint64) {
	if err := vmFrom(ctx).budget.check(); err != nil {
		panic(err)
	}
}

// vmContext is the context of every call into a VM that is not bounded by a callDeadline: it
// only carries the VM, allocation-free.
type vmContext struct{ v *vm }

var _ context.Context = (*vmContext)(nil)

func (*vmContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (*vmContext) Done() <-chan struct{}       { return nil }
func (*vmContext) Err() error                  { return nil }
func (c *vmContext) Value(key any) any {
	if _, ok := key.(vmKey); ok {
		return c.v
	}
	return nil
}
