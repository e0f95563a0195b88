package wasm

import (
	"context"
	"errors"

	"github.com/tetratelabs/wazero/api"

	"github.com/trafficext/trafficext/engine/wasm/internal/shared"
)

// sharedStatus is the Proxy-Wasm status of a store error.
func sharedStatus(err error) status {
	switch {
	case err == nil:
		return statusOK
	case errors.Is(err, shared.ErrCASMismatch):
		return statusCASMismatch
	case errors.Is(err, shared.ErrEmpty):
		return statusEmpty
	default:
		return statusNotFound
	}
}

// enqueueShared adds an item and wakes one live registrant (a root context) with
// proxy_on_queue_ready, on an engine goroutine (never inside the enqueuing call, whose VM
// lock is held).
func enqueueShared(store *shared.Store[*rootCtx], id uint32, val []byte) status {
	owner, ok, err := store.Enqueue(id, val, func(o *rootCtx) bool { return !o.v.broken.Load() && !o.isStopped() })
	if err != nil {
		return sharedStatus(err)
	}
	if ok && owner.v.fns.onQueueReady != nil {
		go owner.rootCall(func() (uint64, error) {
			return owner.v.call(owner.v.fns.onQueueReady, uint64(owner.id), uint64(id))
		})
	}
	return statusOK
}

// dropQueueOwners forgets the root contexts of a closed plugin as queue registrants, except
// those waiting for proxy_done (they still receive proxy_on_queue_ready; finished ones are
// skipped by enqueue).
func dropQueueOwners(store *shared.Store[*rootCtx], p *plugin) {
	store.DropOwners(func(o *rootCtx) bool {
		if o.p != p {
			return true
		}
		o.v.mu.Lock()
		defer o.v.mu.Unlock()
		return o.donePending
	})
}

// proxy_get_shared_data(key, key_size, return_value, return_value_size, return_cas).
func hostGetSharedData(ctx context.Context, v *vm, m api.Module, a []uint32) status {
	key, ok := readString(m, a[0], a[1])
	if !ok {
		return statusInvalidMemory
	}
	val, cas, found := v.g.e.shared.Get(v.g.w.VMID, key)
	if !found {
		return statusNotFound
	}
	if st := v.writeOut(ctx, m, val, a[2], a[3]); st != statusOK {
		return st
	}
	return putU32(m, a[4], cas)
}

// proxy_set_shared_data(key, key_size, value, value_size, cas): cas 0 always writes; a
// non-zero cas must match the stored one (CAS_MISMATCH).
func hostSetSharedData(_ context.Context, v *vm, m api.Module, a []uint32) status {
	key, ok1 := readString(m, a[0], a[1])
	val, ok2 := read(m, a[2], a[3])
	if !ok1 || !ok2 {
		return statusInvalidMemory
	}
	return sharedStatus(v.g.e.shared.Set(v.g.w.VMID, key, val, a[4]))
}

// proxy_register_shared_queue(name, name_size, return_queue_id).
func hostRegisterSharedQueue(_ context.Context, v *vm, m api.Module, a []uint32) status {
	name, ok := readString(m, a[0], a[1])
	if !ok {
		return statusInvalidMemory
	}
	return putU32(m, a[2], v.g.e.shared.Register(v.g.w.VMID, name, v.cur.root))
}

// proxy_resolve_shared_queue(vm_id, vm_id_size, name, name_size, return_queue_id).
func hostResolveSharedQueue(_ context.Context, v *vm, m api.Module, a []uint32) status {
	vmID, ok1 := readString(m, a[0], a[1])
	name, ok2 := readString(m, a[2], a[3])
	if !ok1 || !ok2 {
		return statusInvalidMemory
	}
	id, found := v.g.e.shared.Resolve(vmID, name)
	if !found {
		return statusNotFound
	}
	return putU32(m, a[4], id)
}

// proxy_enqueue_shared_queue(queue_id, value, value_size).
func hostEnqueueSharedQueue(_ context.Context, v *vm, m api.Module, a []uint32) status {
	val, ok := read(m, a[1], a[2])
	if !ok {
		return statusInvalidMemory
	}
	return enqueueShared(v.g.e.shared, a[0], val)
}

// proxy_dequeue_shared_queue(queue_id, return_value, return_value_size).
func hostDequeueSharedQueue(ctx context.Context, v *vm, m api.Module, a []uint32) status {
	val, err := v.g.e.shared.Dequeue(a[0])
	if err != nil {
		return sharedStatus(err)
	}
	return v.writeOut(ctx, m, val, a[1], a[2])
}
