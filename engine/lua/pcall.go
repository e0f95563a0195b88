package lua

import (
	"runtime"
	"strings"

	glua "github.com/yuin/gopher-lua"
)

// Yieldable pcall and xpcall (RATIONALE.md, "Yielding across pcall"): the protected function
// runs in a pooled coroutine that a Lua-written pcall resumes, so a blocking host call inside
// it yields that coroutine and pcall passes the yield up to the hook's coroutine.

// pcallPoolSize is how many finished pcall coroutines a state keeps for reuse; maxPcallDepth
// how many may be active at once (deeper pcalls are gopher-lua's own, which cannot yield).
const (
	pcallPoolSize = 8
	maxPcallDepth = 64
)

// pcallSource builds pcall and xpcall from the helpers it is given. A pcall coroutine runs
// trampoline: it calls each job's function and yields done with the results, then waits for
// the next job; any other yield comes from inside the job and is passed up.
const pcallSource = `
local take, give, lose, rawpcall, rawxpcall, resume, yield, select, type = ...
local done = {}
local function run(f, ...) return run(yield(done, f(...))) end
local function trampoline() return run(yield(done)) end
local function rest(_, ...) return ... end
local function step(co, ok, ...)
  if not ok then lose(co) return false, ... end
  if ... == done then give(co) return true, rest(...) end
  return step(co, resume(co, yield(...)))
end
local function pcall(f, ...)
  local co = type(f) == "function" and take(trampoline)
  if not co then return rawpcall(f, ...) end
  return step(co, resume(co, f, ...))
end
local function handled(h, ok, ...)
  if ok then return true, ... end
  return false, (h(...))
end
local function xpcall(f, h, ...)
  local co = type(f) == "function" and type(h) == "function" and take(trampoline)
  if not co then return rawxpcall(f, h, ...) end
  return handled(h, step(co, resume(co, f, ...)))
end
return pcall, xpcall
`

// mayYield reports whether a script can yield inside a pcall: it calls a host function that
// waits (body, bodyChunks, trailers, httpCall, respond) or coroutine.yield. Only then is
// pcall replaced (gopher-lua's own is faster).
func mayYield(source string) bool {
	for _, m := range [...]string{"body", "trailers", "httpCall", "respond", "yield"} {
		if strings.Contains(source, m) {
			return true
		}
	}
	return false
}

// openYieldablePcall replaces the base pcall and xpcall.
func (v *vm) openYieldablePcall() {
	L := v.L
	g := L.G.Global
	co := g.RawGetString("coroutine").(*glua.LTable)
	fn, err := L.LoadString(pcallSource)
	if err != nil {
		panic("engine/lua: pcall source: " + err.Error())
	}
	L.Push(fn)
	for _, h := range []glua.LValue{
		L.NewFunction(v.pcallTake), L.NewFunction(v.pcallGive), L.NewFunction(v.pcallLose),
		g.RawGetString("pcall"), g.RawGetString("xpcall"), v.rawResume, co.RawGetString("yield"),
		g.RawGetString("select"), g.RawGetString("type"),
	} {
		L.Push(h)
	}
	L.Call(9, 2)
	g.RawSetString("pcall", L.Get(-2))
	g.RawSetString("xpcall", L.Get(-1))
	L.Pop(2)
}

// pcallTake(trampoline) returns a suspended pcall coroutine, or false past maxPcallDepth.
func (v *vm) pcallTake(L *glua.LState) int {
	if v.pco.active >= maxPcallDepth {
		L.Push(glua.LFalse)
		return 1
	}
	v.pco.active++
	if n := len(v.pco.free); n > 0 {
		th := v.pco.free[n-1]
		v.pco.free = v.pco.free[:n-1]
		L.Push(th)
		return 1
	}
	// Not through coroutine.create: a child context would register with the deadline for as
	// long as the pooled coroutine lives. The deadline is the state's own, shared.
	th, cancel := v.L.NewThread()
	if cancel != nil {
		cancel()
	}
	th.SetContext(v.dl)
	if _, err, _ := L.Resume(th, L.CheckFunction(1)); err != nil {
		L.RaiseError("pcall: %s", err.Error())
	}
	if v.pco.threads == nil {
		v.pco.threads = make(map[*glua.LState]struct{})
	}
	v.pco.threads[th] = struct{}{}
	L.Push(th)
	return 1
}

// pcallGive(co) takes back a coroutine whose job ended normally.
func (v *vm) pcallGive(L *glua.LState) int {
	th := L.CheckThread(1)
	v.pco.active--
	if len(v.pco.free) < pcallPoolSize {
		v.pco.free = append(v.pco.free, th)
	} else {
		delete(v.pco.threads, th)
	}
	return 0
}

// pcallLose(co) forgets a coroutine whose job raised an error (it is dead).
func (v *vm) pcallLose(L *glua.LState) int {
	v.pco.active--
	delete(v.pco.threads, L.CheckThread(1))
	return 0
}

// resetPcalls forgets the pcall coroutines a finished or abandoned hook left suspended.
func (v *vm) resetPcalls() {
	v.pco.active = 0
	if len(v.pco.threads) == len(v.pco.free) {
		return
	}
	clear(v.pco.threads)
	for _, th := range v.pco.free {
		v.pco.threads[th] = struct{}{}
	}
}

// hookThreadOf returns the thread a host function called on L yields through: L itself, or,
// for a pcall coroutine, the thread its pcall runs in (recursively), with the number of
// coroutine boundaries crossed.
func (v *vm) hookThreadOf(L *glua.LState) (*glua.LState, int) {
	hops := 0
	for L != nil && L != v.th {
		if _, ok := v.pco.threads[L]; !ok {
			return L, hops
		}
		L, hops = L.Parent, hops+1
	}
	return L, hops
}

// yieldableThrough reports whether the calling host function may yield: between it and the
// loop of each of the hops+1 coroutines it yields through, no nested interpreter loop
// (LState.callR, used by Call/PCall/metamethods) runs.
func yieldableThrough(hops int) bool {
	var pcs [256]uintptr // about a dozen frames per coroutine boundary
	n := runtime.Callers(3, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if strings.Contains(f.Function, "gopher-lua") {
			switch {
			case strings.HasSuffix(f.Function, ".callR"):
				return false
			case strings.HasSuffix(f.Function, ".threadRun"):
				if hops == 0 {
					return true
				}
				hops--
			}
		}
		if !more {
			return false
		}
	}
}
