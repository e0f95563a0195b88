// Package guestmem keeps Proxy-Wasm guests' linear memories outside the Go heap: one
// reserved mapping per memory, grown in place, unmapped when wazero frees it.
package guestmem

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// Only touched pages are resident and the Go GC does not carry them. Lifetime rules (host code
// never keeps a view of guest memory): engine/wasm/RATIONALE.md, "Guest memory outside the Go heap".

// WithLinearMemory returns the context to instantiate a module with: its linear memory is
// allocated by mmapAllocator.
func WithLinearMemory(ctx context.Context) context.Context {
	return experimental.WithMemoryAllocator(ctx, mmapAllocator{})
}

// mmapAllocator allocates linear memories as reserved anonymous mappings. When the
// reservation fails (e.g. RLIMIT_AS), it falls back to a Go-heap memory like wazero's own.
type mmapAllocator struct{}

func (mmapAllocator) Allocate(capBytes, maxBytes uint64) experimental.LinearMemory {
	m, err := reserveMapping(maxBytes)
	if err != nil {
		return &heapMemory{buf: make([]byte, 0, capBytes), max: maxBytes}
	}
	lm := &mmapMemory{m: m}
	// Safety net for a memory wazero never frees (see above): lm is referenced by wazero's
	// memory instance until Free, so once it is unreachable no guest code can use the mapping.
	runtime.AddCleanup(lm, (*mapping).release, m)
	return lm
}

// mapping is one reserved region; mem spans the whole reservation, committed bytes of it are
// readable and writable.
type mapping struct {
	mu        sync.Mutex
	mem       []byte
	committed uint64
}

var pageSize = uint64(syscall.Getpagesize())

func reserveMapping(maxBytes uint64) (*mapping, error) {
	size := roundUp(maxBytes, pageSize)
	if size == 0 || size > uint64(int(^uint(0)>>1)) {
		return nil, fmt.Errorf("reserving %d bytes of linear memory: size out of range", maxBytes)
	}
	mem, err := syscall.Mmap(-1, 0, int(size), syscall.PROT_NONE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("reserving %d bytes of linear memory: %w", size, err)
	}
	return &mapping{mem: mem}, nil
}

// grow makes the first size bytes accessible; it reports false when size exceeds the
// reservation, the mapping is released or mprotect fails.
func (m *mapping) grow(size uint64) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mem == nil || size > uint64(len(m.mem)) {
		return nil, false
	}
	if size > m.committed {
		end := roundUp(size, pageSize)
		if err := syscall.Mprotect(m.mem[m.committed:end], syscall.PROT_READ|syscall.PROT_WRITE); err != nil {
			return nil, false
		}
		m.committed = end
	}
	return m.mem[:size:size], true
}

// release unmaps the region; later calls do nothing.
func (m *mapping) release() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mem == nil {
		return
	}
	_ = syscall.Munmap(m.mem) // only fails for a region that is not mapped
	m.mem, m.committed = nil, 0
}

// mmapMemory is the experimental.LinearMemory wazero holds for one memory instance.
type mmapMemory struct{ m *mapping }

// Reallocate grows the memory in place to size bytes (its address never changes); nil tells
// wazero the grow failed (memory.grow returns -1 to the guest).
func (lm *mmapMemory) Reallocate(size uint64) []byte {
	b, ok := lm.m.grow(size)
	if !ok {
		return nil
	}
	return b
}

// Free unmaps the memory.
func (lm *mmapMemory) Free() { lm.m.release() }

// heapMemory is a linear memory in the Go heap, grown by copying (wazero's default).
type heapMemory struct {
	buf []byte
	max uint64
}

func (h *heapMemory) Reallocate(size uint64) []byte {
	if size > h.max {
		return nil
	}
	if n := uint64(len(h.buf)); size > n {
		h.buf = append(h.buf, make([]byte, size-n)...)
	}
	return h.buf[:size]
}

func (h *heapMemory) Free() { h.buf = nil }

func roundUp(n, to uint64) uint64 { return (n + to - 1) / to * to }

// Mapped reports whether a mapping of the process starts at addr (/proc/self/maps).
func Mapped(addr uintptr) (bool, error) {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return false, fmt.Errorf("guestmem: %w", err)
	}
	return strings.Contains(string(b), fmt.Sprintf("\n%x-", addr)) || strings.HasPrefix(string(b), fmt.Sprintf("%x-", addr)), nil
}
