package wasm

import (
	"context"
	"sync"

	"github.com/tetratelabs/wazero/api"
)

// sharedStore holds shared data and shared queues for every VM of the engine (Envoy shares
// them across workers), scoped by vm id.
type sharedStore struct {
	mu      sync.Mutex
	data    map[string]map[string]*sharedValue // vm id → key → value
	nextCAS uint32

	queues  map[queueKey]*queue
	byID    map[uint32]*queue
	nextQID uint32
}

type sharedValue struct {
	val []byte
	cas uint32
}

type queueKey struct{ vmID, name string }

type queue struct {
	id     uint32
	items  [][]byte
	owners []*vm // VMs whose root context registered the queue
}

func newSharedStore() *sharedStore {
	return &sharedStore{data: map[string]map[string]*sharedValue{}, queues: map[queueKey]*queue{}, byID: map[uint32]*queue{}}
}

func (s *sharedStore) get(vmID, key string) ([]byte, uint32, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.data[vmID][key]
	if !ok {
		return nil, 0, false
	}
	return e.val, e.cas, true
}

func (s *sharedStore) set(vmID, key string, val []byte, cas uint32) status {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.data[vmID]
	if m == nil {
		m = map[string]*sharedValue{}
		s.data[vmID] = m
	}
	e, ok := m[key]
	if ok && cas != 0 && cas != e.cas {
		return statusCASMismatch
	}
	s.nextCAS++
	if s.nextCAS == 0 {
		s.nextCAS = 1
	}
	m[key] = &sharedValue{val: append([]byte{}, val...), cas: s.nextCAS}
	return statusOK
}

func (s *sharedStore) register(v *vm, name string) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := queueKey{v.p.w.VMID, name}
	q, ok := s.queues[k]
	if !ok {
		s.nextQID++
		q = &queue{id: s.nextQID}
		s.queues[k], s.byID[q.id] = q, q
	}
	for _, o := range q.owners {
		if o == v {
			return q.id
		}
	}
	q.owners = append(q.owners, v)
	return q.id
}

func (s *sharedStore) resolve(vmID, name string) (uint32, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.queues[queueKey{vmID, name}]
	if !ok {
		return 0, false
	}
	return q.id, true
}

// enqueue adds an item and wakes one live registrant with proxy_on_queue_ready, on an engine
// goroutine (never inside the enqueuing call, whose VM lock is held).
func (s *sharedStore) enqueue(id uint32, val []byte) status {
	s.mu.Lock()
	q, ok := s.byID[id]
	if !ok {
		s.mu.Unlock()
		return statusNotFound
	}
	q.items = append(q.items, append([]byte{}, val...))
	var owner *vm
	live := q.owners[:0]
	for _, o := range q.owners {
		if !o.broken.Load() && !o.isClosed() {
			live = append(live, o)
		}
	}
	q.owners = live
	if len(live) > 0 {
		owner = live[0]
	}
	s.mu.Unlock()
	if owner != nil && owner.fns.onQueueReady != nil {
		go owner.rootCall(func() (uint64, error) {
			return owner.call(owner.fns.onQueueReady, uint64(owner.rootID), uint64(id))
		})
	}
	return statusOK
}

func (s *sharedStore) dequeue(id uint32) ([]byte, status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.byID[id]
	if !ok {
		return nil, statusNotFound
	}
	if len(q.items) == 0 {
		return nil, statusEmpty
	}
	it := q.items[0]
	q.items = q.items[1:]
	return it, statusOK
}

// dropOwner forgets the VMs of a closed plugin as queue registrants, except those waiting for
// proxy_done (their root context still receives proxy_on_queue_ready; closed VMs are skipped
// by enqueue).
func (s *sharedStore) dropOwner(p *plugin) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range s.queues {
		live := q.owners[:0]
		for _, o := range q.owners {
			if o.p != p || p.isPending(o) {
				live = append(live, o)
			}
		}
		q.owners = live
	}
}

func (v *vm) isClosed() bool {
	v.tickMu.Lock()
	defer v.tickMu.Unlock()
	return v.closed
}

// proxy_get_shared_data(key, key_size, return_value, return_value_size, return_cas).
func hostGetSharedData(ctx context.Context, v *vm, m api.Module, a []uint32) status {
	key, ok := readString(m, a[0], a[1])
	if !ok {
		return statusInvalidMemory
	}
	val, cas, found := v.p.e.shared.get(v.p.w.VMID, key)
	if !found {
		return statusNotFound
	}
	if st := v.writeOut(ctx, m, val, a[2], a[3]); st != statusOK {
		return st
	}
	if !writeU32(m, a[4], cas) {
		return statusInvalidMemory
	}
	return statusOK
}

// proxy_set_shared_data(key, key_size, value, value_size, cas): cas 0 always writes; a
// non-zero cas must match the stored one (CAS_MISMATCH).
func hostSetSharedData(_ context.Context, v *vm, m api.Module, a []uint32) status {
	key, ok1 := readString(m, a[0], a[1])
	val, ok2 := read(m, a[2], a[3])
	if !ok1 || !ok2 {
		return statusInvalidMemory
	}
	return v.p.e.shared.set(v.p.w.VMID, key, val, a[4])
}

// proxy_register_shared_queue(name, name_size, return_queue_id).
func hostRegisterSharedQueue(_ context.Context, v *vm, m api.Module, a []uint32) status {
	name, ok := readString(m, a[0], a[1])
	if !ok {
		return statusInvalidMemory
	}
	if !writeU32(m, a[2], v.p.e.shared.register(v, name)) {
		return statusInvalidMemory
	}
	return statusOK
}

// proxy_resolve_shared_queue(vm_id, vm_id_size, name, name_size, return_queue_id).
func hostResolveSharedQueue(_ context.Context, v *vm, m api.Module, a []uint32) status {
	vmID, ok1 := readString(m, a[0], a[1])
	name, ok2 := readString(m, a[2], a[3])
	if !ok1 || !ok2 {
		return statusInvalidMemory
	}
	id, found := v.p.e.shared.resolve(vmID, name)
	if !found {
		return statusNotFound
	}
	if !writeU32(m, a[4], id) {
		return statusInvalidMemory
	}
	return statusOK
}

// proxy_enqueue_shared_queue(queue_id, value, value_size).
func hostEnqueueSharedQueue(_ context.Context, v *vm, m api.Module, a []uint32) status {
	val, ok := read(m, a[1], a[2])
	if !ok {
		return statusInvalidMemory
	}
	return v.p.e.shared.enqueue(a[0], val)
}

// proxy_dequeue_shared_queue(queue_id, return_value, return_value_size).
func hostDequeueSharedQueue(ctx context.Context, v *vm, m api.Module, a []uint32) status {
	val, st := v.p.e.shared.dequeue(a[0])
	if st != statusOK {
		return st
	}
	return v.writeOut(ctx, m, val, a[1], a[2])
}
