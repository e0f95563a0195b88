package wasm

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trafficext/trafficext/engine/wasm/meter"
	"github.com/trafficext/trafficext/engine/wasm/wasmtest"
	"github.com/trafficext/trafficext/extconfig"
)

// TestCallBudget: the budget allocates nothing, passes a call within its limit, fails one past
// it with errCallTimeout, stays failed for the rest of that call and reports it at the end.
func TestCallBudget(t *testing.T) {
	var b callBudget
	if err := b.check(); err != nil {
		t.Fatalf("no call in progress: %v", err)
	}
	if n := testing.AllocsPerRun(1000, func() { b.begin(time.Hour); b.check(); b.end() }); n != 0 {
		t.Fatalf("begin+check+end allocates %v times", n)
	}
	b.begin(time.Hour)
	if err := b.check(); err != nil || b.end() {
		t.Fatalf("within the budget: %v", err)
	}
	b.begin(time.Millisecond)
	time.Sleep(5 * time.Millisecond)
	if err := b.check(); !errors.Is(err, errCallTimeout) {
		t.Fatalf("past the budget: %v", err)
	}
	if !b.end() {
		t.Fatal("end does not report the exceeded budget")
	}
}

// TestEngine_LongLoopWithinBudget: a guest looping 50 million times (hundreds of refuels) but
// within its budget is not stopped and keeps its VM.
func TestEngine_LongLoopWithinBudget(t *testing.T) {
	e := New(Options{CacheDir: cacheDirForTests(), CallTimeout: 20 * time.Second, MaxVMsPerPlugin: 1})
	p, _ := load(t, e, wasmtest.C(t, "fault", ""), nil)
	drive(t, p, request{})
	start := time.Now()
	o := drive(t, p, request{headers: []string{"x-fault", "spin", "x-spin", "50"}})
	t.Logf("50M iterations in %v", time.Since(start))
	if o.reply != nil || header(o.respH, "x-spun") != "done" {
		t.Fatalf("the loop was stopped: reply %+v, x-spun %q", o.reply, header(o.respH, "x-spun"))
	}
	if got := header(o.respH, "x-vm-requests"); got != "2" {
		t.Fatalf("x-vm-requests %q, want 2 (the same VM)", got)
	}
}

// TestEngine_MeterFallback: a module the meter cannot instrument is compiled with wazero's
// termination checks instead (with a warning) and is still bounded.
func TestEngine_MeterFallback(t *testing.T) {
	e := New(Options{CacheDir: cacheDirForTests(), CallTimeout: 200 * time.Millisecond, MaxVMsPerPlugin: 1})
	e.instrument = func([]byte) ([]byte, error) { return nil, errors.New("unknown opcode 0xff") }
	p, h := load(t, e, wasmtest.C(t, "fault", ""), nil)
	if c := p.(*plugin).g.c; c.bound != boundContext || c.rt != e.checked {
		t.Fatalf("bound %v", c.bound)
	}
	if !strings.Contains(strings.Join(h.Logs, "\n"), "cannot add fuel metering (unknown opcode 0xff)") {
		t.Fatalf("no warning: %v", h.Logs)
	}
	start := time.Now()
	o := drive(t, p, request{headers: []string{"x-fault", "loop"}})
	if d := time.Since(start); d > 5*time.Second || o.reply == nil || o.reply.Status != 503 {
		t.Fatalf("the loop ran %v, reply %+v", d, o.reply)
	}
	if got := header(drive(t, p, request{}).respH, "x-vm-requests"); got != "1" {
		t.Fatalf("after the loop x-vm-requests %q", got)
	}
}

// TestEngine_MeteredCompilationCache: the instrumented bytes are deterministic, so a second
// engine (a restart) finds the metered module in the on-disk compilation cache instead of
// compiling and storing it again.
func TestEngine_MeteredCompilationCache(t *testing.T) {
	dir := t.TempDir()
	g := wasmtest.C(t, "fault", "")
	files := func() []string {
		var names []string
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				names = append(names, path)
			}
			return nil
		})
		return names
	}
	load(t, New(Options{CacheDir: dir, MaxVMsPerPlugin: 1}), g, nil)
	first := files()
	if len(first) == 0 {
		t.Fatal("nothing cached")
	}
	p, _ := load(t, New(Options{CacheDir: dir, MaxVMsPerPlugin: 1}), g, nil)
	if got := files(); !slices.Equal(got, first) {
		t.Fatalf("the second engine compiled again: cache %v, was %v", got, first)
	}
	if p.(*plugin).g.c.bound != boundFuel {
		t.Fatal("not metered")
	}
}

// TestEngine_MalformedModuleRejected: input the meter finds malformed fails Load with its
// error and never reaches wazero (whose decoder would try to allocate ~40 GiB for this table
// count).
func TestEngine_MalformedModuleRejected(t *testing.T) {
	bin := []byte("\x00asm\x01\x00\x00\x00\x04\x0f\xff\xff\xff\x80\t00\x120000000")
	path := filepath.Join(t.TempDir(), "bad.wasm")
	if err := os.WriteFile(path, bin, 0o644); err != nil {
		t.Fatal(err)
	}
	e := New(Options{CacheDir: "-", MaxVMsPerPlugin: 1})
	_, err := e.Load(&extconfig.Extension{Schema: 1, Name: "bad", Wasm: &extconfig.Wasm{Path: path}}, &fakeHost{})
	if !errors.Is(err, meter.ErrMalformed) || !strings.Contains(err.Error(), "table section") {
		t.Fatalf("Load: %v", err)
	}
}
