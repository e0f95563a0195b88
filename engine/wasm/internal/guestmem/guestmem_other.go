//go:build !linux

package guestmem

import (
	"context"
	"errors"
)

// WithLinearMemory leaves linear memories to wazero's default on platforms other than Linux:
// a Go []byte per memory, grown by copying (on Linux they live outside the Go heap).
func WithLinearMemory(ctx context.Context) context.Context { return ctx }

// Mapped is not known on platforms other than Linux.
func Mapped(uintptr) (bool, error) {
	return false, errors.New("guestmem: no mapping list on this platform")
}
