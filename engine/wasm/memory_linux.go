package wasm

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// Linear memories live outside the Go heap, in one anonymous mapping per VM: the whole
// maximum is reserved up front (PROT_NONE, MAP_NORESERVE: address space only) and each
// memory.grow makes the next pages readable and writable in place. So only the pages a guest
// has touched are resident, a grow never copies the memory or leaves the old copy as garbage,
// and the Go heap (hence the Go GC's heap goal, which is twice the live heap by default) does
// not carry the guests' memories. wazero's default keeps each memory in a Go []byte grown by
// append: every grow leaves the old copy as garbage and the live memories double the Go heap
// goal. With the hashparity guest (Go SDK) at Envoy --concurrency 16, moving them here cut
// Envoy's RSS from about 150 to about 110 MiB (TestEnvoy_WasmBenchmark).
//
// The mapping is unmapped when wazero frees the memory, i.e. when the module is closed: by
// vm.close and the start failure path (both under the VM lock, so no call is running), or by
// wazero itself on the calling goroutine at the termination check of a call whose deadline
// fired, after which that call unwinds (a host function whose nested guest call failed
// panics, see vm.writeOut). Host code must therefore never keep a view of guest memory
// (api.Memory.Read) beyond the host function that read it — every host function copies what
// it keeps. When wazero does not free a memory (a deadline firing just as the call returned
// marks the module closed without releasing its resources), a GC cleanup unmaps it once
// wazero no longer references it.

// withLinearMemory returns the context to instantiate a module with: its linear memory is
// allocated by mmapAllocator.
func withLinearMemory(ctx context.Context) context.Context {
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
