package wasm

import "syscall"

// threadID identifies the OS thread running the caller. Envoy calls the module from its
// worker threads, and a cgo callback stays on the calling thread, so this is the worker.
func threadID() int { return syscall.Gettid() }
