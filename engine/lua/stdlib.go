package lua

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	glua "github.com/yuin/gopher-lua"

	"github.com/trafficext/trafficext/core"
)

// The sandbox. Envoy opens every LuaJIT library; we open only what cannot reach the file
// system, the process or other streams' memory:
//
//   - base, minus dofile, loadfile, require, module and _printregs; collectgarbage is a no-op
//     (gopher-lua's runs a full Go GC); print writes "script log: ..." at debug level to the
//     stream that is running;
//   - table, string (pattern matching, rep, format, concat, sort, unpack and the other
//     functions that can run long or allocate much replaced by bounded ones, strlib.go;
//     string.dump fails as in gopher-lua), math, coroutine;
//   - os with time, clock and date only;
//   - bit: LuaJIT's bit library (tobit, tohex, bnot, band, bor, bxor, lshift, rshift, arshift,
//     rol, ror, bswap);
//   - pairs honours a __pairs metamethod (LuaJIT's 5.2 compatibility, which gopher-lua lacks),
//     so that pairs(headers) iterates a header map;
//   - EnvoyTimestampResolution {MILLISECOND = 0, MICROSECOND = 1}.
//
// io, package, debug, channel, ffi and jit are absent.

var openers = []struct {
	name string
	fn   glua.LGFunction
}{
	{glua.BaseLibName, glua.OpenBase},
	{glua.TabLibName, glua.OpenTable},
	{glua.StringLibName, glua.OpenString},
	{glua.MathLibName, glua.OpenMath},
	{glua.CoroutineLibName, glua.OpenCoroutine},
	{glua.OsLibName, glua.OpenOs},
}

// openSandbox opens the allowed libraries into v.L.
func (v *vm) openSandbox() {
	L := v.L
	for _, o := range openers {
		L.Push(L.NewFunction(o.fn))
		L.Push(glua.LString(o.name))
		L.Call(1, 0)
	}
	g := L.G.Global
	for _, name := range []string{"dofile", "loadfile", "require", "module", "_printregs"} {
		g.RawSetString(name, glua.LNil)
	}
	g.RawSetString("collectgarbage", L.NewFunction(func(L *glua.LState) int { L.Push(glua.LNumber(0)); return 1 }))
	g.RawSetString("print", L.NewFunction(v.print))

	full := L.GetGlobal("os").(*glua.LTable)
	safeOS := L.CreateTable(0, 3)
	for _, name := range []string{"time", "clock", "date"} {
		safeOS.RawSetString(name, full.RawGetString(name))
	}
	g.RawSetString("os", safeOS)

	v.openBoundedLib(L.GetGlobal("string").(*glua.LTable), L.GetGlobal("table").(*glua.LTable), g)

	g.RawSetString("bit", newBitLib(L))

	// error(n) with a number: Lua 5.1 / LuaJIT treat it as a string and prefix the position.
	g.RawSetString("error", L.NewFunction(func(L *glua.LState) int {
		v, level := L.CheckAny(1), L.OptInt(2, 1)
		if n, ok := v.(glua.LNumber); ok && level > 0 {
			v = glua.LString(n.String())
		}
		L.Error(v, level)
		return 0
	}))
	// tonumber("1e2"): gopher-lua's decimal parser misses exponents in some forms.
	origToNumber := g.RawGetString("tonumber").(*glua.LFunction)
	g.RawSetString("tonumber", L.NewFunction(func(L *glua.LState) int {
		if s, ok := L.Get(1).(glua.LString); ok && (L.GetTop() < 2 || L.Get(2) == glua.LNil || L.Get(2) == glua.LNumber(10)) {
			t := strings.TrimSpace(string(s))
			if f, err := strconv.ParseFloat(t, 64); err == nil && !strings.ContainsAny(t, "xXnN_") {
				L.Push(glua.LNumber(f))
				return 1
			}
		}
		top := L.GetTop()
		L.Insert(origToNumber, 1)
		L.Call(top, 1)
		return 1
	}))
	// LuaJIT's message for resuming a dead coroutine.
	co := L.GetGlobal("coroutine").(*glua.LTable)
	origResume := co.RawGetString("resume").(*glua.LFunction)
	v.rawResume = origResume // the yieldable pcall's, which must not run a nested loop
	co.RawSetString("resume", L.NewFunction(func(L *glua.LState) int {
		top := L.GetTop()
		L.Insert(origResume, 1)
		L.Call(top, glua.MultRet)
		if L.Get(1) == glua.LFalse {
			if m, ok := L.Get(2).(glua.LString); ok && m == "can not resume a dead thread" {
				L.Replace(2, glua.LString("cannot resume dead coroutine"))
			}
		}
		return L.GetTop()
	}))

	orig := g.RawGetString("pairs").(*glua.LFunction)
	g.RawSetString("pairs", L.NewFunction(func(L *glua.LState) int { return pairs(L, orig) }))

	res := L.CreateTable(0, 2)
	res.RawSetString("MILLISECOND", glua.LNumber(0))
	res.RawSetString("MICROSECOND", glua.LNumber(1))
	g.RawSetString("EnvoyTimestampResolution", res)
}

// pairs is the base pairs honouring __pairs on tables and userdata.
func pairs(L *glua.LState, orig *glua.LFunction) int {
	obj := L.Get(1)
	fn := glua.LValue(orig)
	if mm := L.GetMetaField(obj, "__pairs"); mm != glua.LNil {
		fn = mm
	}
	L.Push(fn)
	L.Push(obj)
	L.Call(1, 3)
	return 3
}

func (v *vm) print(L *glua.LState) int {
	d := v.cur
	if d == nil || !d.f.s.LogEnabled(core.LogDebug) {
		return 0
	}
	var b strings.Builder
	b.WriteString("script log: ")
	for i := 1; i <= L.GetTop(); i++ {
		if i > 1 {
			b.WriteByte('\t')
		}
		b.WriteString(L.ToStringMeta(L.Get(i)).String())
	}
	d.f.s.Log(core.LogDebug, b.String())
	return 0
}

// newBitLib returns LuaJIT's bit library: operands are normalised to signed 32-bit integers and
// results are signed 32-bit numbers.
func newBitLib(L *glua.LState) *glua.LTable {
	t := L.CreateTable(0, 12)
	unary := func(op func(int32) int32) *glua.LFunction {
		return L.NewFunction(func(L *glua.LState) int {
			L.Push(glua.LNumber(op(tobit(L.CheckNumber(1)))))
			return 1
		})
	}
	fold := func(op func(a, b int32) int32) *glua.LFunction {
		return L.NewFunction(func(L *glua.LState) int {
			acc := tobit(L.CheckNumber(1))
			for i := 2; i <= L.GetTop(); i++ {
				acc = op(acc, tobit(L.CheckNumber(i)))
			}
			L.Push(glua.LNumber(acc))
			return 1
		})
	}
	shift := func(op func(x uint32, n uint) uint32) *glua.LFunction {
		return L.NewFunction(func(L *glua.LState) int {
			x := uint32(tobit(L.CheckNumber(1)))
			n := uint(tobit(L.CheckNumber(2))) & 31
			L.Push(glua.LNumber(int32(op(x, n))))
			return 1
		})
	}
	t.RawSetString("tobit", unary(func(x int32) int32 { return x }))
	t.RawSetString("bnot", unary(func(x int32) int32 { return ^x }))
	t.RawSetString("bswap", unary(func(x int32) int32 {
		u := uint32(x)
		return int32(u>>24 | (u>>8)&0xff00 | (u<<8)&0xff0000 | u<<24)
	}))
	t.RawSetString("band", fold(func(a, b int32) int32 { return a & b }))
	t.RawSetString("bor", fold(func(a, b int32) int32 { return a | b }))
	t.RawSetString("bxor", fold(func(a, b int32) int32 { return a ^ b }))
	t.RawSetString("lshift", shift(func(x uint32, n uint) uint32 { return x << n }))
	t.RawSetString("rshift", shift(func(x uint32, n uint) uint32 { return x >> n }))
	t.RawSetString("arshift", shift(func(x uint32, n uint) uint32 { return uint32(int32(x) >> n) }))
	t.RawSetString("rol", shift(func(x uint32, n uint) uint32 { return x<<n | x>>((32-n)&31) }))
	t.RawSetString("ror", shift(func(x uint32, n uint) uint32 { return x>>n | x<<((32-n)&31) }))
	t.RawSetString("tohex", L.NewFunction(func(L *glua.LState) int {
		x := uint32(tobit(L.CheckNumber(1)))
		n := int(tobit(glua.LNumber(L.OptNumber(2, 8))))
		format := "%0*x"
		if n < 0 {
			n, format = -n, "%0*X"
		}
		if n > 8 {
			n = 8
		}
		if n < 8 {
			x &= 1<<(4*uint(n)) - 1
		}
		L.Push(glua.LString(fmt.Sprintf(format, n, x)))
		return 1
	}))
	return t
}

// tobit normalises a number to a signed 32-bit integer as LuaJIT does (round to nearest
// even, then modulo 2^32).
func tobit(n glua.LNumber) int32 {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	f = math.Mod(math.RoundToEven(f), 4294967296)
	if f < 0 {
		f += 4294967296
	}
	return int32(uint32(f))
}
