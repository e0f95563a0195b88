// Package lua is the Lua engine of trafficext: it runs a TrafficExtension's inline Lua with the
// semantics of Envoy's Lua HTTP filter (v1.36.2) on gopher-lua (Lua 5.1), against the
// host-agnostic core.Stream.
//
// # Loading
//
// Engine.Load parses and compiles the script once into a *lua.FunctionProto (a syntax error
// reads "script load error: lua.inlineCode: line N: ..."), defines the counters
// <prefix>script_error and <prefix>script_timeout, and prepares a first state to find
// envoy_on_request and envoy_on_response. A script defining neither is rejected (Envoy
// accepts it and does nothing); a missing one makes that direction a pass-through that never
// touches Lua.
//
// # States and the pool
//
// A state (vm) is an *lua.LState with the sandbox opened, the method tables of every host
// type built, and the script's top level run. Each plugin keeps a bounded free list of states
// (Options.MaxIdleStates); states are created on demand and reused across requests, so a
// steady-state request creates none. A state is held only while a hook's coroutine is alive
// (running or waiting for a body, trailers or a callout) and goes back to the list when it
// ends. Script globals therefore persist per state, as they persist per worker in Envoy. A
// state is discarded, never reused, after a timeout or a Go panic in a host function.
//
// # Hooks as coroutines
//
// Each hook runs in a coroutine thread kept by its state (revived after a normal end, so a
// request allocates no thread). handle:body(), the bodyChunks() iterator, trailers() and a
// synchronous httpCall() yield; the filter answers the event with StopIteration or
// StopAndBuffer, exactly where Envoy's filter stops, and resumes the coroutine on the later
// body, trailers or callout-completion event (then ContinueRequest / ContinueResponse when
// the script lets go). gopher-lua cannot yield across a Go-called function, so generic for
// loops are compiled as the equivalent while loops (so `for chunk in h:bodyChunks()` works),
// pcall and xpcall run the protected function in a pooled coroutine whose yields they pass up
// (pcall.go), and a yield inside a metamethod or a Go-called callback raises "attempt to
// yield across a C-call boundary" (see rewrite.go).
//
// # Objects die at a yield
//
// As in Envoy (StreamHandleWrapper::onMarkDead), every object the handle handed out (headers,
// body buffer, trailers, metadata, stream info and its children, connection, public key,
// route/virtual-host objects) dies when the coroutine yields in body(), trailers(), a
// bodyChunks() step or a synchronous httpCall(); using it afterwards raises "object used outside
// of proper scope", and the script asks the handle again. Before the first yield the objects
// are embedded in the filter (no allocation); after it they are allocated, one per kind per
// epoch (filter.go killObjects, handle.go object).
//
// # Bounds
//
// Every call into a script (hook start or resume, and the top level at load) is bounded by the
// CPU time its OS thread spends in it, Options.CallTimeout (20ms) or lua.callTimeoutMillis,
// through a reusable context that gopher-lua checks at every instruction (deadline.go). The
// timer reads the thread's CPU clock when it expires and re-arms for the rest of the budget,
// so a worker descheduled on a loaded machine does not fail a cheap script; a wall-clock cap
// of max(10×budget, 1s) backs it up. A bound that expires after the script's last instruction
// is not a timeout. A call still running after 1ms is also checked every millisecond for the
// bytes the process allocated since (Options.MaxCallAlloc, 64 MiB; "call memory bound
// exceeded", counted as a script error, not a timeout; the garbage is then returned to the OS).
// Recursion is bounded by Options.CallStackSize and the value stack by Options.RegistryMax.
//
// One library call is one VM instruction, so the library functions that can run long or
// allocate much bound themselves (strlib.go): find, match, gmatch and gsub run the sandbox's own
// Lua 5.1 matcher (pattern.go, LuaJIT's semantics), which polls the call's context every 1024
// steps and checks its CPU time every 64 polls, so a catastrophic pattern is cut within the
// call's bound like a loop ("context deadline exceeded", a timeout); table.sort, table.insert
// and the copying loops poll likewise. rep, format, concat, gsub, upper, lower, reverse, char, sort and unpack
// reserve their result against the call's allocation budget before allocating it (the size
// computed up front, or each growth of gsub's buffer), and no such result may exceed
// Options.MaxStringBytes (16 MiB; "resulting string too large", "call memory bound exceeded",
// script errors). table.insert shifts a table longer than 1M elements one element at a time,
// polling. Not bounded from inside: growing a huge table's array (one Go append) and the `..`
// operator (a VM instruction; the sampled budget applies).
//
// # respond() and the response hook
//
// Envoy passes respond()'s local reply through the whole encoder chain, the Lua filter's own
// envoy_on_response included, but the dynamic-modules host does not call a module back for its
// own reply; the engine therefore runs the response hook on the reply itself, in another state
// over a stream whose response side is the reply, before handing the result to the host
// (localreply.go).
//
// # Errors
//
// As in Envoy, a script error is fail-open: it is logged as "script log: <message>" at error
// level, counted in script_error (a timeout also in script_timeout), the coroutine ends, and
// the stream continues with whatever the script already changed. A Go panic inside a host
// function is not a script error: it is recorded before gopher-lua can turn it into a Lua
// error (or a script's pcall can swallow it) and re-panicked once control is back in Go, so
// the core's fail strategy applies.
//
// # Host objects
//
// The stream handle and the objects it hands out (headers, stream info, dynamic metadata,
// filter state, connection, SSL, metadata, buffers) are userdata sharing per-state method
// tables; the ones a hook can reach at most once are embedded in the filter, so a request
// allocates one filter rather than one userdata per object. They read the stream lazily and
// are valid only while their coroutine runs ("object used outside of proper scope"
// otherwise). pairs() honours __pairs, which gopher-lua's does not, so pairs(headers) works.
//
// # Dynamic metadata on narrow hosts
//
// A host may be unable to list a namespace or to store some values (the dynamic-modules host
// of Envoy 1.39 lists namespaces but stores no tables). The filter keeps a per-stream shadow
// of every value the script set (shared by both hooks):
// dynamicMetadata():get(ns) returns a table of the shadowed keys (plus the host's keys when it
// can list them) whose __index falls back to the host per key, so pairs lists at least what
// this extension set; values the host refuses (tables, booleans) live on in the shadow.
//
// # Sandbox
//
// base (without dofile, loadfile, require, module; collectgarbage is a no-op; print logs at
// debug level; unpack bounded), table, string (bounded, see Bounds; upper and lower ASCII-only
// like LuaJIT; patterns with LuaJIT's semantics, frontier %f included), math,
// coroutine, os.time/os.clock/os.date, a LuaJIT-compatible bit library, and
// EnvoyTimestampResolution. No io, os process or file functions, package, debug or ffi.
package lua
