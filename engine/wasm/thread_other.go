//go:build !linux

package wasm

// threadID is 0 where the worker thread cannot be identified (no affinity).
func threadID() int { return 0 }
