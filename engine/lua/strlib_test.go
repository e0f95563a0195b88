package lua

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	glua "github.com/yuin/gopher-lua"
)

// callBounded calls the library function lib.name(args...) straight from Go in a sandbox state
// whose context fires after budget, and returns the time the call took and its error.
func callBounded(t *testing.T, budget time.Duration, lib, name string, args ...func(*glua.LState) glua.LValue) (time.Duration, error) {
	t.Helper()
	p, _ := load(t, "function envoy_on_request(r) end")
	v, err := p.newVM()
	if err != nil {
		t.Fatal(err)
	}
	defer v.close()
	L := v.L
	fn := L.GetGlobal(lib).(*glua.LTable).RawGetString(name)
	var vals []glua.LValue
	for _, a := range args {
		vals = append(vals, a(L))
	}
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	L.SetContext(ctx)
	defer L.RemoveContext()
	start := time.Now()
	err = L.CallByParam(glua.P{Fn: fn, NRet: glua.MultRet, Protect: true}, vals...)
	return time.Since(start), err
}

func str(s string) func(*glua.LState) glua.LValue {
	return func(*glua.LState) glua.LValue { return glua.LString(s) }
}

func num(n float64) func(*glua.LState) glua.LValue {
	return func(*glua.LState) glua.LValue { return glua.LNumber(n) }
}

// bigTable is a table of n pseudo-random numbers (with room for one more: growing a huge
// array is one Go append, which no library function can interrupt).
func bigTable(n int) func(*glua.LState) glua.LValue {
	return func(L *glua.LState) glua.LValue {
		t := L.CreateTable(n+1, 0)
		for i := 1; i <= n; i++ {
			t.RawSetInt(i, glua.LNumber((i*7919)%1000003))
		}
		return t
	}
}

// One library call is one VM instruction: each of these would run for seconds (or, for the
// patterns, for ever); the call's bound cuts it from inside.
func TestBoundedCalls_CutWithinTheBound(t *testing.T) {
	subject := strings.Repeat("a", 200)
	const budget = 20 * time.Millisecond
	for _, tc := range []struct {
		name, lib, fn string
		args          []func(*glua.LState) glua.LValue
	}{
		{"find", "string", "find", []func(*glua.LState) glua.LValue{str(subject), str("a*a*a*a*a*a*b")}},
		{"match", "string", "match", []func(*glua.LState) glua.LValue{str(subject), str("(a-)(a-)(a-)(a-)(a-)(a-)b")}},
		{"gsub", "string", "gsub", []func(*glua.LState) glua.LValue{str(subject), str("a*a*a*a*a*a*b"), str("x")}},
		{"find with captures", "string", "find", []func(*glua.LState) glua.LValue{str(subject), str("(a*)(a*)(a*)(a*)(a*)(a*)%1b")}},
		{"sort", "table", "sort", []func(*glua.LState) glua.LValue{bigTable(4 << 20)}},
		{"insert", "table", "insert", []func(*glua.LState) glua.LValue{bigTable(16 << 20), num(1), str("x")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			took, err := callBounded(t, budget, tc.lib, tc.fn, tc.args...)
			if err == nil || !strings.Contains(err.Error(), "context deadline exceeded") {
				t.Fatalf("error %v after %v", err, took)
			}
			t.Logf("cut after %v", took)
			// A wall-clock bound here (the test's context): allow for a loaded machine.
			if took > 25*budget {
				t.Errorf("cut after %v (bound %v)", took, budget)
			}
		})
	}
	t.Run("gmatch", func(t *testing.T) {
		p, _ := load(t, "function envoy_on_request(r) end")
		v, _ := p.newVM()
		defer v.close()
		fn, err := v.L.LoadString(`for m in (...):gmatch("a*a*a*a*a*a*b") do end`)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), budget)
		defer cancel()
		v.L.SetContext(ctx)
		start := time.Now()
		err = v.L.CallByParam(glua.P{Fn: fn, Protect: true}, glua.LString(subject))
		if err == nil || !strings.Contains(err.Error(), "context deadline exceeded") || time.Since(start) > 25*budget {
			t.Fatalf("error %v after %v", err, time.Since(start))
		}
	})
}

// Through the filter: the catastrophic pattern on a 200-byte header fails open within the
// call's CPU bound and counts as a timeout.
func TestBoundedCalls_CatastrophicPatternFailsOpen(t *testing.T) {
	for _, expr := range []string{
		`v:find("a*a*a*a*a*a*b")`,
		`v:match("a-a-a-a-a-a-b")`,
		`v:gsub("a*a*a*a*a*a*b", "")`,
		`pcall(string.find, v, "a*a*a*a*a*a*b") while true do end`,
		`coroutine.wrap(function() v:find("a*a*a*a*a*a*b") end)()`,
	} {
		t.Run(expr, func(t *testing.T) {
			start := time.Now()
			s, h, _, _ := run(t, `function envoy_on_request(r)
  local v = r:headers():get("x-subject")
  r:headers():add("x-before", "1")
  `+expr+`
  r:headers():add("x-after", "1")
end`, func(s *fakeStream) { s.ReqH.Add("x-subject", strings.Repeat("a", 200)) })
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("took %v", took)
			}
			if errorsCounted(s, h) != 1 || timeoutsCounted(s, h) != 1 || !s.Logged("context deadline exceeded") {
				t.Errorf("errors %d timeouts %d; logs:\n%s", errorsCounted(s, h), timeoutsCounted(s, h), s.LogText())
			}
			if _, ok := s.ReqH.Get("x-before"); !ok {
				t.Error("the change before the error was lost")
			}
			if _, ok := s.ReqH.Get("x-after"); ok {
				t.Error("the script went on after the bound")
			}
		})
	}
}

// Each of these would allocate GiBs in one call; it is refused before the allocation: the
// process allocates little more than the script's own inputs.
func TestBoundedCalls_RefusedBeforeAllocating(t *testing.T) {
	for _, tc := range []struct{ name, code, want string }{
		{"concat of 4096 x 16 MiB", `local s = string.rep("x", 16 * 2^20 - 64) local t = {} for i = 1, 4096 do t[i] = s end local r = table.concat(t)`, "resulting string too large"},
		{"concat under the cap, over the budget", `local s = string.rep("x", 2^20) local t = {} for i = 1, 12 do t[i] = s end for i = 1, 8 do local r = table.concat(t) end`, "call memory bound exceeded"},
		{"gsub of every position", `local s = string.rep("x", 2^20) local r = s:gsub("", s)`, "resulting string too large"},
		{"gsub with a function", `local s = string.rep("x", 2^20) local r = s:gsub("x", function() return s end)`, "resulting string too large"},
		{"rep", `local s = string.rep("x", 2^30)`, "resulting string too large"},
		{"rep with a separator", `local s = ("x"):rep(2^20, ("y"):rep(2^10))`, "resulting string too large"},
		{"format width", `local s = string.format("%999999999d", 1)`, "invalid option"},
		{"format of big strings", `local s = string.rep("x", 15 * 2^20) local r = string.format("%s%s", s, s)`, "resulting string too large"},
		{"upper over the budget", `local s = string.rep("x", 15 * 2^20) for i = 1, 8 do local u = s:upper() end`, "call memory bound exceeded"},
		{"reverse over the budget", `local s = string.rep("x", 15 * 2^20) for i = 1, 8 do local u = s:reverse() end`, "call memory bound exceeded"},
		{"unpack", `local t = unpack({}, 1, 2^31 - 1)`, "too many results to unpack"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, h := load(t, "function envoy_on_request(r) r:headers():add('x-before', '1') "+tc.code+" end", Options{CallTimeout: time.Second})
			s := newStream()
			runtime.GC()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			roundTrip(t, p, s)
			runtime.ReadMemStats(&m1)
			if errorsCounted(s, h) != 1 || timeoutsCounted(s, h) != 0 || !s.Logged(tc.want) {
				t.Errorf("errors %d timeouts %d; logs:\n%s", errorsCounted(s, h), timeoutsCounted(s, h), s.LogText())
			}
			// The inputs are at most 15 MiB (16 for the first); the bounded result buffer at
			// most MaxStringBytes (plus its doubling) and the budget 64 MiB.
			if grew := (m1.TotalAlloc - m0.TotalAlloc) >> 20; grew > 16+64+32 {
				t.Errorf("allocated %d MiB", grew)
			}
		})
	}
}

// The result of a bounded call is reserved up front: a string built by a call's library
// functions is charged once, and the charge resets with the next call.
func TestBoundedCalls_BudgetPerCall(t *testing.T) {
	p, h := load(t, `function envoy_on_request(r)
  local s = string.rep("x", 8 * 2^20)
  for i = 1, 6 do local u = s:upper() end
end`, Options{CallTimeout: time.Second})
	for i := 0; i < 3; i++ {
		s := newStream()
		roundTrip(t, p, s)
		if errorsCounted(s, h) != 0 {
			t.Fatalf("request %d: logs:\n%s", i, s.LogText())
		}
	}
}

// FuzzFormatSize: the size string.format reserves is an upper bound of what it returns, and
// the spec parser never panics.
func FuzzFormatSize(f *testing.F) {
	for _, s := range []string{"%s=%d", "%5.2f|%-3s|", "%099.99f", "%q", "% x", "%c%c", "%%d%", "%-+ #012.7e", "%100d"} {
		f.Add(s, "a\x00\xe9b", 1e308)
	}
	p, _ := load(f, "function envoy_on_request(r) end")
	v, err := p.newVM()
	if err != nil {
		f.Fatal(err)
	}
	format := v.L.GetGlobal("string").(*glua.LTable).RawGetString("format")
	f.Fuzz(func(t *testing.T, fs, s string, x float64) {
		if len(fs) > 64 || len(s) > 256 {
			return
		}
		args := []glua.LValue{glua.LString(fs), glua.LString(s), glua.LNumber(x), glua.LString(s), glua.LNumber(x)}
		size, bad := formatSize(fs, len(args)-1, func(i int) glua.LValue { return args[i] })
		v.beginCall()
		err := v.L.CallByParam(glua.P{Fn: format, NRet: 1, Protect: true}, args...)
		if bad != "" {
			if err == nil || !strings.Contains(err.Error(), "invalid option") {
				t.Fatalf("%q: refused spec %q but format gave %v", fs, bad, err)
			}
			return
		}
		if err != nil {
			return // a Lua error of gopher-lua's format (bad argument)
		}
		got := v.L.Get(-1)
		v.L.Pop(1)
		if int64(len(got.String())) > size {
			t.Fatalf("%q: %d bytes, bound %d", fs, len(got.String()), size)
		}
	})
}
