package lua

import (
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strconv"

	glua "github.com/yuin/gopher-lua"

	"github.com/trafficext/trafficext/core"
)

// errTopLevelTimeout is the load error of a script whose top level ran out of its bound.
var errTopLevelTimeout = errors.New("script load error: top level exceeded the call timeout")

// maxPendingCoroutines bounds the deadline callbacks registered by coroutines a script
// created and never finished; past it the state is discarded when released.
const maxPendingCoroutines = 1024

// vm is one prepared Lua state of a plugin: the sandbox opened, the method tables built and the
// script's top level run. A vm is used by one coroutine at a time and goes back to the
// plugin's free list when that coroutine ends.
type vm struct {
	p  *plugin
	L  *glua.LState
	th *glua.LState // the coroutine thread, revived after each normal completion
	dl *deadline

	onRequest, onResponse *glua.LFunction
	mt                    metatables
	dmFallback            map[string]*glua.LTable // dynamicMetadata():get fallback metatables by namespace
	headersNext           *glua.LFunction         // the pairs(headers) iterator

	cur       *direction // the direction whose coroutine runs or waits on this state
	hostPanic any        // a Go panic caught in a host function during the current call
	spent     int64      // bytes library functions reserved during the current call (strlib.go)
	sorter    *sorter    // table.sort's reusable sorter (strlib.go)
	poisoned  bool       // the state must not be reused
	rawResume *glua.LFunction
	pco       struct { // pcall coroutines (pcall.go)
		active  int
		free    []*glua.LState
		threads map[*glua.LState]struct{}
	}
}

// metatables are the shared method tables of the host object types, built once per state.
type metatables struct {
	handle, headers, buffer, streamInfo, dynMeta, filterState, metadata, conn, ssl, route *glua.LTable
	connSI, connDM                                                                        *glua.LTable
}

// newVM prepares a state for p.
func (p *plugin) newVM() (*vm, error) {
	v := &vm{p: p, dl: newDeadline()}
	v.L = glua.NewState(glua.Options{
		SkipOpenLibs:    true,
		CallStackSize:   p.opts.CallStackSize,
		RegistrySize:    p.opts.RegistrySize,
		RegistryMaxSize: p.opts.RegistryMax,
	})
	v.openSandbox()
	if p.yieldingPcall {
		v.openYieldablePcall()
	}
	v.buildMetatables()
	if err := v.runTopLevel(); err != nil {
		v.close()
		return nil, err
	}
	v.onRequest = v.global("envoy_on_request")
	v.onResponse = v.global("envoy_on_response")
	return v, nil
}

func (v *vm) global(name string) *glua.LFunction {
	fn, _ := v.L.GetGlobal(name).(*glua.LFunction)
	return fn
}

// runTopLevel runs the compiled chunk once (defining the hooks and the script's globals).
func (v *vm) runTopLevel() error {
	L := v.L
	L.SetContext(v.dl)
	defer L.RemoveContext()
	L.Push(L.NewFunctionFromProto(v.p.proto))
	runtime.LockOSThread()
	v.beginCall()
	v.dl.arm(v.p.opts.CallTimeout, v.p.opts.memMax())
	err := L.PCall(0, 0, nil)
	fired := v.dl.disarm()
	runtime.UnlockOSThread()
	if fired && err != nil {
		return fmt.Errorf("%w of %v CPU time", errTopLevelTimeout, v.p.opts.CallTimeout)
	}
	v.dl.reset()
	if p := v.hostPanic; p != nil {
		panic(p)
	}
	if err != nil {
		return fmt.Errorf("script load error: %s", errorText(err))
	}
	return nil
}

// thread returns the coroutine thread, ready to start a hook.
func (v *vm) thread() *glua.LState {
	if v.th == nil {
		th, _ := v.L.NewThread()
		th.SetContext(v.dl)
		v.th = th
	} else {
		v.th.Dead = false
	}
	v.resetPcalls()
	return v.th
}

// release gives the state back to the plugin (or closes it when it must not be reused).
func (v *vm) release() {
	v.cur = nil
	if v.poisoned || v.dl.hasFired() || v.dl.pending() > maxPendingCoroutines {
		v.close()
		return
	}
	v.p.put(v)
}

func (v *vm) close() {
	v.dl.stop()
	v.L.Close()
}

// guard wraps a host function: a Go panic in it is recorded so that the filter re-panics it
// once control is back in Go (gopher-lua would otherwise turn it into a Lua error, and a
// script's pcall could even swallow it). Lua errors (*glua.ApiError) pass through.
func (v *vm) guard(fn glua.LGFunction) glua.LGFunction {
	return func(L *glua.LState) int {
		top := L.GetTop()
		defer func() {
			if r := recover(); r != nil {
				if ae, ok := r.(*glua.ApiError); ok {
					if s, ok := ae.Object.(glua.LString); ok {
						if m, changed := luajitArgError(string(s), top); changed {
							ae.Object = glua.LString(m)
						}
					}
				} else if v.hostPanic == nil {
					v.hostPanic = r
				}
				panic(r)
			}
		}()
		return fn(L)
	}
}

var argErrorRe = regexp.MustCompile(`^(.*)bad argument #(\d+) to (\S+) \((.*) expected, got (\w+)\)$`)

// luajitArgError rewords gopher-lua's argument error of a host method as Envoy's Lua filter
// reports it: Envoy's methods are anonymous C closures, so LuaJIT names none of them and
// counts self ("bad argument #2 to '?' (string expected, got no value)"), with "no value" for
// an argument past the ones passed (top).
func luajitArgError(msg string, top int) (string, bool) {
	m := argErrorRe.FindStringSubmatch(msg)
	if m == nil {
		return msg, false
	}
	got := m[5]
	if n, _ := strconv.Atoi(m[2]); got == "nil" && n > top {
		got = "no value"
	}
	return fmt.Sprintf("%sbad argument #%s to '?' (%s expected, got %s)", m[1], m[2], m[4], got), true
}

// newUD makes a host object.
func (v *vm) newUD(val any, mt *glua.LTable) *glua.LUserData {
	ud := v.L.NewUserData()
	ud.Value = val
	ud.Metatable = mt
	return ud
}

// class builds the metatable of a host type: methods (wrapped by guard) plus the six log
// functions Envoy registers on every type.
func (v *vm) class(methods map[string]glua.LGFunction, meta map[string]glua.LGFunction) *glua.LTable {
	L := v.L
	idx := L.CreateTable(0, len(methods)+len(logLevels))
	for name, fn := range methods {
		idx.RawSetString(name, L.NewFunction(v.guard(fn)))
	}
	for name, lvl := range logLevels {
		idx.RawSetString(name, L.NewFunction(v.guard(logFunc(lvl))))
	}
	mt := L.CreateTable(0, 1+len(meta))
	mt.RawSetString("__index", idx)
	for name, fn := range meta {
		mt.RawSetString(name, L.NewFunction(v.guard(fn)))
	}
	return mt
}

var logLevels = map[string]core.LogLevel{
	"logTrace":    core.LogTrace,
	"logDebug":    core.LogDebug,
	"logInfo":     core.LogInfo,
	"logWarn":     core.LogWarn,
	"logErr":      core.LogError,
	"logCritical": core.LogCritical,
}

// logFunc is obj:logX(msg) for any host object.
func logFunc(lvl core.LogLevel) glua.LGFunction {
	return func(L *glua.LState) int {
		d := ownerOf(L)
		msg := L.CheckString(2)
		if s := d.f.s; s.LogEnabled(lvl) {
			s.Log(lvl, "script log: "+msg)
		}
		return 0
	}
}

// owner is implemented by the Go values behind host objects.
type owner interface{ dir() *direction }

// ownerOf checks argument 1 is a live host object and returns its direction.
func ownerOf(L *glua.LState) *direction {
	ud, ok := L.Get(1).(*glua.LUserData)
	if !ok {
		L.ArgError(1, "host object expected (use ':' to call methods)")
	}
	o, ok := ud.Value.(owner)
	if !ok {
		L.ArgError(1, "host object expected")
	}
	d := o.dir()
	if !d.live {
		L.RaiseError("object used outside of proper scope")
	}
	return d
}

// errorText is the message of a Lua error without gopher-lua's stack traceback.
func errorText(err error) string {
	var ae *glua.ApiError
	if errors.As(err, &ae) && ae.Object != nil {
		return ae.Object.String()
	}
	return err.Error()
}
