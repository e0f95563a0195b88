package meter

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// experimentalFeatures are the proposals wazero v1.12.0 implements beyond Wasm 2.0.
const experimentalFeatures = experimental.CoreFeaturesThreads | experimental.CoreFeaturesTailCall |
	experimental.CoreFeaturesExtendedConst | experimental.CoreFeaturesExceptionHandling

const (
	i32 = valI32
	i64 = 0x7e
)

// loopModule exports "spin" (i32 n) -> i32: counts n down to zero in a loop and returns the
// number of iterations; "fib" (i32) -> i32, a loop-free exponential recursion; "indirect"
// () -> i32 calling fib(5) through a table; a start function setting global 0 to 7 read by
// "started"; an imported function "env.id" (i32) -> i32 used by "viaimport"; and a name
// section.
func loopModule() []byte {
	types := sec(secType, vec(
		functype([]byte{i32}, []byte{i32}), // 0
		functype(nil, []byte{i32}),         // 1
		functype(nil, nil),                 // 2
	))
	imports := sec(secImport, vec(cat(str("env"), str("id"), []byte{0x00}, u32(0))))
	funcs := sec(secFunction, vec(u32(0), u32(0), u32(1), u32(2), u32(1), u32(0))) // 1 spin, 2 fib, 3 indirect, 4 start, 5 started, 6 viaimport
	table := sec(secTable, vec([]byte{0x70, 0x00, 0x01}))
	globals := sec(secGlobal, vec(
		cat([]byte{i32, 0x01, opI32Const, 0x00, opEnd}),
		cat([]byte{0x70, 0x00, opRefFunc}, u32(2), []byte{opEnd}), // funcref global: ref.func fib
	))
	exports := sec(secExport, vec(
		cat(str("spin"), []byte{0x00}, u32(1)),
		cat(str("fib"), []byte{0x00}, u32(2)),
		cat(str("indirect"), []byte{0x00}, u32(3)),
		cat(str("started"), []byte{0x00}, u32(5)),
		cat(str("viaimport"), []byte{0x00}, u32(6)),
	))
	start := sec(secStart, u32(4))
	elems := sec(secElement, vec(
		cat(u32(0), []byte{opI32Const, 0x00, opEnd}, vec(u32(2))),                                        // active, funcidx
		cat(u32(5), []byte{0x70}, vec(cat([]byte{opRefFunc}, u32(1), []byte{opEnd}))),                    // passive, exprs
		cat(u32(3), []byte{0x00}, vec(u32(6))),                                                           // declarative
		cat(u32(4), []byte{opI32Const, 0x00, opEnd}, vec(cat([]byte{opRefFunc}, u32(2), []byte{opEnd}))), // active, exprs
	))
	code := sec(secCode, vec(
		// spin: (local $i i32) loop: if n == 0 return i; n--; i++; br 0
		body([][2]byte{{1, i32}},
			[]byte{opLoop, blockEmpty},
			[]byte{opLocalGet, 0, opI32Eqz, opIf, blockEmpty, opLocalGet, 1, 0x0f, opEnd},
			[]byte{opLocalGet, 0, opI32Const, 1, opI32Sub, 0x21, 0},
			[]byte{opLocalGet, 1, opI32Const, 1, 0x6a, 0x21, 1},
			[]byte{0x0c, 0, opEnd, 0x00}),
		// fib: n < 2 ? n : fib(n-1) + fib(n-2)
		body(nil,
			[]byte{opLocalGet, 0, opI32Const, 2, 0x48, opIf, i32, opLocalGet, 0, 0x05},
			[]byte{opLocalGet, 0, opI32Const, 1, opI32Sub, opCall, 2},
			[]byte{opLocalGet, 0, opI32Const, 2, opI32Sub, opCall, 2, 0x6a, opEnd}),
		// indirect: call_indirect (type 0) fib(5) via table[0]
		body(nil, []byte{opI32Const, 5, opI32Const, 0, 0x11, 0, 0}),
		// start: global 0 = 7
		body(nil, []byte{opI32Const, 7, opGlobalSet, 0}),
		// started: global 0
		body(nil, []byte{opGlobalGet, 0}),
		// viaimport: env.id(n) through return_call
		body(nil, []byte{opLocalGet, 0, opReturnCall, 0}),
	))
	names := customSec("name",
		[]byte{0}, str(string(str("loop"))),
		[]byte{1}, str(string(vec(cat(u32(0), str("id")), cat(u32(1), str("spin")), cat(u32(2), str("fib"))))),
		[]byte{2}, str(string(vec(cat(u32(1), vec(cat(u32(0), str("n")), cat(u32(1), str("i"))))))),
		[]byte{3}, str(string(vec(cat(u32(0), str("lbl"))))), // dropped
	)
	return wasm(types, imports, funcs, table, globals, exports, start, elems, code, names, customSec(".debug_info", []byte{1, 2, 3}))
}

// host instantiates env.id and the refuel import counting its calls (onRefuel may panic).
func host(t testing.TB, rt wazero.Runtime, onRefuel func()) *int {
	t.Helper()
	ctx := context.Background()
	n := new(int)
	if _, err := rt.NewHostModuleBuilder(ImportModule).NewFunctionBuilder().
		WithFunc(func(context.Context) { *n++; onRefuel() }).Export(ImportName).
		Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.NewHostModuleBuilder("env").NewFunctionBuilder().
		WithFunc(func(_ context.Context, x uint32) uint32 { return x }).Export("id").
		Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	return n
}

func instantiate(t testing.TB, bin []byte, onRefuel func()) (api.Module, *int) {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCoreFeatures(api.CoreFeaturesV2|experimentalFeatures))
	t.Cleanup(func() { rt.Close(ctx) })
	n := host(t, rt, onRefuel)
	mod, err := rt.Instantiate(ctx, bin)
	if err != nil {
		t.Fatalf("instantiating: %v", err)
	}
	return mod, n
}

func call(t testing.TB, mod api.Module, name string, args ...uint64) uint64 {
	t.Helper()
	r, err := mod.ExportedFunction(name).Call(context.Background(), args...)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r[0]
}

// TestInstrument_Semantics: the instrumented module behaves as the original (calls, tail
// calls, the table, the start function, ref.func in globals and element segments, imports)
// and calls refuel exactly once per Fuel checks (function entries plus loop iterations).
func TestInstrument_Semantics(t *testing.T) {
	orig := loopModule()
	plain, _ := instantiate(t, orig, func() {})
	out, err := Instrument(orig)
	if err != nil {
		t.Fatal(err)
	}
	mod, refuels := instantiate(t, out, func() {})
	for _, c := range []struct {
		name string
		arg  []uint64
		want uint64
	}{
		{"spin", []uint64{1000}, 1000},
		{"fib", []uint64{10}, 55},
		{"indirect", nil, 5},
		{"started", nil, 7},
		{"viaimport", []uint64{42}, 42},
	} {
		if got, orig := call(t, mod, c.name, c.arg...), call(t, plain, c.name, c.arg...); got != c.want || orig != c.want {
			t.Errorf("%s = %d (original %d), want %d", c.name, got, orig, c.want)
		}
	}
	// Checks so far (entry checks only in functions that call, and not in spin, which starts
	// with its loop): spin 1001 loop heads, fib(10) 177 entries, indirect 1+15, viaimport 1:
	// 1195, far below Fuel.
	if *refuels != 0 {
		t.Fatalf("refuel called %d times before the fuel ran out", *refuels)
	}
	const n = 3 * Fuel
	call(t, mod, "spin", n)
	// The counter starts at Fuel; each check decrements it and refuels at zero.
	if want := (1195 + n + 1) / Fuel; *refuels != want {
		t.Fatalf("refuel called %d times, want %d", *refuels, want)
	}
	if mod.ExportedGlobal("spin") != nil || len(mod.ExportedFunctionDefinitions()) != 5 {
		t.Fatalf("exports changed: %v", mod.ExportedFunctionDefinitions())
	}
	if names := mod.ExportedFunction("spin").Definition().DebugName(); names != "loop.spin" {
		t.Fatalf("spin's debug name = %q", names)
	}
}

// TestInstrument_RefuelStops: a host refuel that panics stops an endless loop and a loop-free
// exponential recursion.
func TestInstrument_RefuelStops(t *testing.T) {
	out, err := Instrument(loopModule())
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("out of time")
	calls := 0
	mod, _ := instantiate(t, out, func() {
		if calls++; calls > 3 {
			panic(stop)
		}
	})
	for _, c := range []struct {
		name string
		arg  uint64
	}{
		{"spin", 1<<32 - 1}, // 4 billion iterations
		{"fib", 60},         // 2^42 calls, never deeper than 60
		{"spin", 1<<32 - 1}, // the fuel was reset before the failed refuel
	} {
		calls = 0
		start := time.Now()
		_, err := mod.ExportedFunction(c.name).Call(context.Background(), c.arg)
		if !errors.Is(err, stop) {
			t.Fatalf("%s: err = %v, want the refuel panic", c.name, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("%s: stopped after %v", c.name, d)
		}
	}
}

// TestInstrument_Golden pins the rewrite of a tiny module byte for byte.
func TestInstrument_Golden(t *testing.T) {
	in := wasm(
		sec(secType, vec(functype(nil, nil))),
		sec(secFunction, vec(u32(0))),
		sec(secExport, vec(cat(str("f"), []byte{0x00}, u32(0)))),
		sec(secCode, vec(body(nil, []byte{opLoop, blockEmpty, 0x0c, 0, opEnd}))),
	)
	check := []byte{
		opGlobalGet, 0, opI32Const, 1, opI32Sub, opLocalTee, 0, opGlobalSet, 0,
		opLocalGet, 0, opI32Eqz, opIf, blockEmpty, opI32Const, 0x80, 0x80, 0x04, opGlobalSet, 0, opCall, 0, opEnd,
	}
	want := wasm(
		sec(secType, vec(functype(nil, nil))), // () -> () reused for refuel
		sec(secImport, vec(cat(str(ImportModule), str(ImportName), []byte{0x00}, u32(0)))),
		sec(secFunction, vec(u32(0))),
		sec(secGlobal, vec([]byte{i32, 0x01, opI32Const, 0x80, 0x80, 0x04, opEnd})),
		sec(secExport, vec(cat(str("f"), []byte{0x00}, u32(1)))),
		sec(secCode, vec(body([][2]byte{{1, i32}}, []byte{opLoop, blockEmpty}, check, []byte{0x0c, 0, opEnd}))),
	)
	got, err := Instrument(in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got  % x\nwant % x", got, want)
	}
	again, _ := Instrument(in)
	if !bytes.Equal(got, again) {
		t.Fatal("the rewrite is not deterministic")
	}
}

// TestInstrument_EntryChecks: a function gets an entry check unless it calls nothing or
// always reaches a loop (which has its own check) before it could branch or call.
func TestInstrument_EntryChecks(t *testing.T) {
	for _, c := range []struct {
		name   string
		code   []byte
		checks int // in the whole body
		entry  bool
	}{
		{"leaf", []byte{opLocalGet, 0, opI32Const, 1, 0x6a, 0x1a}, 0, false},
		{"call", []byte{opCall, 0}, 1, true},
		{"call_indirect", []byte{opI32Const, 0, 0x11, 0, 0}, 1, true},
		{"tail call", []byte{opReturnCall, 0}, 1, true},
		{"loop first", []byte{opLoop, blockEmpty, opCall, 0, opEnd}, 1, false},
		{"Go shape", []byte{opGlobalGet, 0, 0x21, 0, opBlock, blockEmpty, opLoop, blockEmpty, opCall, 0, opEnd, opEnd}, 1, false},
		{"branch before the loop", []byte{opBlock, blockEmpty, opLocalGet, 0, 0x0d, 0, opLoop, blockEmpty, opEnd, opEnd, opCall, 0}, 2, true},
		{"call before the loop", []byte{opCall, 0, opLoop, blockEmpty, opEnd}, 2, true},
		{"leaf with a loop", []byte{opLocalGet, 0, 0x0d, 0, opLoop, blockEmpty, opEnd}, 1, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := wasm(
				sec(secType, vec(functype(nil, nil))),
				sec(secFunction, vec(u32(0))),
				sec(secTable, vec([]byte{0x70, 0x00, 0x01})),
				sec(secGlobal, vec([]byte{i32, 0x01, opI32Const, 0, opEnd})),
				sec(secCode, vec(body([][2]byte{{1, i32}}, c.code))),
			)
			out, err := Instrument(in)
			if err != nil {
				t.Fatal(err)
			}
			compile(t, out, true)
			m := &module{fuel: 1}
			check := m.check(1) // refuel is function 0, the fuel global 1, the added local 1
			if n := bytes.Count(out, check); n != c.checks {
				t.Fatalf("%d checks, want %d", n, c.checks)
			}
			// The body: size, 2 local groups (1 i32, 1 i32), then the code.
			code := out[bytes.LastIndex(out, []byte{0x02, 0x01, i32, 0x01, i32})+5:]
			if got := bytes.HasPrefix(code, check); got != c.entry {
				t.Fatalf("entry check %v, want %v", got, c.entry)
			}
		})
	}
}

// TestInstrument_Instructions: bodies using every immediate form of the supported extensions
// are copied intact (wazero validates the result where it supports the feature).
func TestInstrument_Instructions(t *testing.T) {
	mem := sec(secMemory, vec([]byte{0x00, 0x01}))
	tag := sec(secTag, vec([]byte{0x00, 0x00}))
	ty := sec(secType, vec(functype(nil, nil), functype([]byte{i32}, []byte{i32, i64})))
	for _, c := range []struct {
		name     string
		code     []byte
		validate bool
		want     []byte // the rewritten code, when it differs
	}{
		{"numeric and sign-ext", []byte{opI32Const, 0x7f, 0xc0, 0x42, 0x80, 0x7f, 0xc4, 0x1a, 0x1a}, true, nil},
		{"f32/f64 consts", []byte{0x43, 0, 0, 0x80, 0x3f, 0x44, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x1a, 0x1a}, true, nil},
		{"memory", []byte{opI32Const, 0, 0x28, 2, 0x10, 0x1a, 0x3f, 0, 0x40, 0, 0x1a}, true, nil},
		{"sat trunc", []byte{0x43, 0, 0, 0, 0, 0xfc, 0, 0x1a}, true, nil},
		{"bulk memory", []byte{opI32Const, 0, opI32Const, 0, opI32Const, 0, 0xfc, 11, 0, opI32Const, 0, opI32Const, 0, opI32Const, 0, 0xfc, 10, 0, 0}, true, nil},
		{"simd", cat([]byte{0xfd, 12}, make([]byte, 16), []byte{0xfd, 21, 3, 0x1a, opI32Const, 0, 0xfd, 0, 4, 0, 0xfd, 0x62, 0x1a}), true, nil},
		{"simd lane memarg", cat([]byte{opI32Const, 0, 0xfd, 12}, make([]byte, 16), []byte{0xfd, 0x54, 0, 0, 1, 0x1a}), true, nil},
		{"atomics", []byte{opI32Const, 0, 0xfe, 0x10, 2, 0, 0x1a, 0xfe, 0x03, 0}, true, nil},
		{"multi-value block", []byte{opI32Const, 1, opBlock, 1, 0x42, 1, opEnd, 0x1a, 0x1a}, true, nil},
		{"br_table", []byte{opBlock, blockEmpty, opI32Const, 0, 0x0e, 2, 0, 0, 0, opEnd}, true, nil},
		{"select t", []byte{opI32Const, 1, opI32Const, 2, opI32Const, 0, 0x1c, 1, i32, 0x1a}, true, nil},
		{"ref types", []byte{0xd0, 0x70, 0xd1, 0x1a, opRefFunc, 0, 0x1a}, true, []byte{0xd0, 0x70, 0xd1, 0x1a, opRefFunc, 1, 0x1a}},
		{"try_table", []byte{opBlock, blockEmpty, opTryTable, blockEmpty, 2, 0x00, 0, 0, 0x02, 0, opEnd, opEnd}, true, nil},
		{"legacy try", []byte{opTry, blockEmpty, 0x07, 0, 0x19, opEnd, opTry, blockEmpty, 0x18, 0}, false, nil},
		{"throw_ref", []byte{opBlock, 0x69, 0xd0, 0x69, opEnd, 0x0a}, false, nil},
		{"tail call", []byte{opReturnCall, 0}, true, []byte{opReturnCall, 1}},
		{"throw", []byte{0x08, 0}, true, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := wasm(ty, sec(secFunction, vec(u32(0))), mem, tag,
				sec(secElement, vec(cat(u32(3), []byte{0x00}, vec(u32(0))))),
				sec(secCode, vec(body([][2]byte{{1, i32}}, c.code))))
			out, err := Instrument(in)
			if err != nil {
				t.Fatal(err)
			}
			want := c.code
			if c.want != nil {
				want = c.want
			}
			if !bytes.Contains(out, want) {
				t.Fatal("the instructions were not copied intact")
			}
			if c.validate {
				compile(t, out, true)
			}
		})
	}
}

func compile(t testing.TB, bin []byte, wantOK bool) {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().WithCoreFeatures(api.CoreFeaturesV2|experimentalFeatures))
	defer rt.Close(ctx)
	cm, err := rt.CompileModule(ctx, bin)
	if wantOK && err != nil {
		t.Fatalf("wazero rejects the instrumented module: %v", err)
	}
	if cm != nil {
		cm.Close(ctx)
	}
}

// TestInstrument_Errors: malformed or undecodable input is a clear error, never a panic.
func TestInstrument_Errors(t *testing.T) {
	ty := sec(secType, vec(functype(nil, nil)))
	fn := sec(secFunction, vec(u32(0)))
	for _, c := range []struct {
		name, want string
		bin        []byte
	}{
		// Counts beyond the bytes present (wazero v1.12.0 preallocates what they claim).
		{"table count", "vector of 2418016255 elements", []byte("\x00asm\x01\x00\x00\x00\x04\x0f\xff\xff\xff\x80\t00\x120000000")},
		{"data count", "vector of", []byte("\x00asm\x01\x00\x00\x00\v\x0f\xb0\xb0\xb00000G0000GG0")},
		{"data length", "bytes wanted", wasm(sec(secData, vec(cat(u32(1), u32(1000), []byte{1}))))},
		{"locals", "50001 locals", wasm(ty, fn, sec(secCode, vec(cat(u32(5), vec(cat(u32(50001), []byte{i32})), []byte{opEnd}))))},
		{"empty", "no \\0asm magic", nil},
		{"component", "unsupported WebAssembly binary version", []byte{0, 'a', 's', 'm', 0x0d, 0, 1, 0}},
		{"unknown section", "unknown section id 14", wasm(sec(14))},
		{"out of order", "type section out of order", wasm(fn, ty)},
		{"truncated section", "unexpected end", wasm(ty)[:len(wasm(ty))-1]},
		{"unknown opcode", "unknown opcode 0xff", wasm(ty, fn, sec(secCode, vec(body(nil, []byte{0xff}))))},
		{"unknown 0xfc", "unknown opcode 0xfc 99", wasm(ty, fn, sec(secCode, vec(body(nil, []byte{0xfc, 99}))))},
		{"unterminated body", "unexpected end", wasm(ty, fn, sec(secCode, vec(cat(u32(2), []byte{0, 0x01}))))},
		{"bytes after end", "unexpected bytes", wasm(ty, fn, sec(secCode, vec(cat(u32(3), []byte{0, opEnd, 0x01}))))},
		{"call out of range", "function index 9 out of range", wasm(ty, fn, sec(secCode, vec(body(nil, []byte{opCall, 9}))))},
		{"export out of range", "export \"f\": function index 3 out of range", wasm(ty, fn, sec(secExport, vec(cat(str("f"), []byte{0}, u32(3)))))},
		{"body count", "2 function bodies for 1 functions", wasm(ty, fn, sec(secCode, vec(body(nil), body(nil))))},
		{"gc type", "unsupported type form 0x5f", wasm(sec(secType, vec([]byte{0x5f, 0})))},
		{"long LEB", "longer than 32 bits", wasm(sec(secType, []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0}))},
		{"bad valtype", "unknown value type 0x1", wasm(sec(secType, vec(functype([]byte{1}, nil))))},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Instrument(c.bin)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one containing %q", err, c.want)
			}
			// Features the rewriter lacks are not malformed input.
			unsupported := strings.Contains(c.want, "unknown opcode") || strings.Contains(c.want, "unsupported") ||
				strings.Contains(c.want, "unknown value type")
			if errors.Is(err, ErrMalformed) == unsupported {
				t.Fatalf("errors.Is(%v, ErrMalformed) = %v", err, !unsupported)
			}
		})
	}
}

// TestInstrument_NoSections: a module without type, import or global sections gets them, in
// order, and validates.
func TestInstrument_NoSections(t *testing.T) {
	out, err := Instrument(wasm(customSec("producers", []byte{0})))
	if err != nil {
		t.Fatal(err)
	}
	compile(t, out, true)
	out, err = Instrument(wasm(sec(secMemory, vec([]byte{0, 1})), sec(secData, vec(cat(u32(0), []byte{opI32Const, 0, opEnd}, str("hi"))))))
	if err != nil {
		t.Fatal(err)
	}
	compile(t, out, true)
}

// TestInstrument_Guests instruments every test guest already built into the guest cache (the
// wasm tests build them) and checks that wazero compiles the result.
func TestInstrument_Guests(t *testing.T) {
	dir := os.Getenv("TRAFFICEXT_GUEST_CACHE")
	if dir == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			t.Skip(err)
		}
		dir = filepath.Join(d, "trafficext", "guests")
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "*", "*.wasm"))
	if len(paths) == 0 {
		t.Skip("no guests built yet; run the engine/wasm tests first")
	}
	for _, p := range paths {
		t.Run(filepath.Base(filepath.Dir(p))+"/"+filepath.Base(p), func(t *testing.T) {
			bin, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			out, err := Instrument(bin)
			if err != nil {
				t.Fatal(err)
			}
			compile(t, out, true)
		})
	}
}

// FuzzInstrument: Instrument never panics, and whatever wazero accepts stays acceptable after
// the rewrite.
func FuzzInstrument(f *testing.F) {
	f.Add(loopModule())
	f.Add(wasm(sec(secType, vec(functype(nil, nil))), sec(secFunction, vec(u32(0))),
		sec(secCode, vec(body(nil, []byte{opLoop, blockEmpty, 0x0c, 0, opEnd})))))
	f.Add(wasm())
	// Inputs that made wazero v1.12.0 preallocate tens of GiB before the rewriter checked
	// counts against the bytes present.
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x04\x0f\xff\xff\xff\x80\t00\x120000000"))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\v\x0f\xb0\xb0\xb00000G0000GG0"))
	f.Fuzz(func(t *testing.T, bin []byte) {
		out, err := Instrument(bin)
		if err != nil {
			return
		}
		ctx := context.Background()
		rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
		defer rt.Close(ctx)
		cm, err := rt.CompileModule(ctx, bin)
		if err != nil {
			return
		}
		cm.Close(ctx)
		cm, err = rt.CompileModule(ctx, out)
		if err != nil {
			t.Fatalf("wazero accepts the input but not its rewrite: %v", err)
		}
		cm.Close(ctx)
	})
}
