//go:build !linux

package wasm

import "context"

// withLinearMemory leaves linear memories to wazero's default on platforms other than Linux:
// a Go []byte per memory, grown by copying (memory_linux.go keeps them outside the Go heap).
func withLinearMemory(ctx context.Context) context.Context { return ctx }
