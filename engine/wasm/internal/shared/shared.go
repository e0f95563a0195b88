// Package shared is the Proxy-Wasm shared-data and shared-queue store of one engine: values
// with compare-and-swap versions and queues with their registrants, scoped by vm id, shared
// by every VM of the process as Envoy shares them across workers.
package shared

import (
	"errors"
	"sync"
)

// The errors of the store, each one Proxy-Wasm status.
var (
	ErrCASMismatch = errors.New("shared data: cas mismatch")
	ErrNotFound    = errors.New("shared queue: not found")
	ErrEmpty       = errors.New("shared queue: empty")
)

// Store holds the data and queues; O identifies a queue registrant (a VM).
type Store[O comparable] struct {
	mu      sync.Mutex
	data    map[string]map[string]*value // vm id → key → value
	nextCAS uint32

	queues  map[queueKey]*queue[O]
	byID    map[uint32]*queue[O]
	nextQID uint32
}

type value struct {
	val []byte
	cas uint32
}

type queueKey struct{ vmID, name string }

type queue[O comparable] struct {
	id     uint32
	items  [][]byte
	owners []O // registrants, in registration order
}

// New returns an empty store.
func New[O comparable]() *Store[O] {
	return &Store[O]{data: map[string]map[string]*value{}, queues: map[queueKey]*queue[O]{}, byID: map[uint32]*queue[O]{}}
}

// Get returns the value of key and its cas.
func (s *Store[O]) Get(vmID, key string) ([]byte, uint32, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.data[vmID][key]
	if !ok {
		return nil, 0, false
	}
	return e.val, e.cas, true
}

// Set stores a copy of val under key unless cas is non-zero and not the current one.
func (s *Store[O]) Set(vmID, key string, val []byte, cas uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.data[vmID]
	if m == nil {
		m = map[string]*value{}
		s.data[vmID] = m
	}
	e, ok := m[key]
	if ok && cas != 0 && cas != e.cas {
		return ErrCASMismatch
	}
	s.nextCAS++
	if s.nextCAS == 0 {
		s.nextCAS = 1
	}
	m[key] = &value{val: append([]byte{}, val...), cas: s.nextCAS}
	return nil
}

// Register makes owner a registrant of queue name (created when new) and returns its id.
func (s *Store[O]) Register(vmID, name string, owner O) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := queueKey{vmID, name}
	q, ok := s.queues[k]
	if !ok {
		s.nextQID++
		q = &queue[O]{id: s.nextQID}
		s.queues[k], s.byID[q.id] = q, q
	}
	for _, o := range q.owners {
		if o == owner {
			return q.id
		}
	}
	q.owners = append(q.owners, owner)
	return q.id
}

// Resolve returns the id of queue name.
func (s *Store[O]) Resolve(vmID, name string) (uint32, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.queues[queueKey{vmID, name}]
	if !ok {
		return 0, false
	}
	return q.id, true
}

// Enqueue adds a copy of val to queue id, forgets the registrants live reports gone and
// returns the first live one (to wake; ok false when none).
func (s *Store[O]) Enqueue(id uint32, val []byte, live func(O) bool) (owner O, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, found := s.byID[id]
	if !found {
		return owner, false, ErrNotFound
	}
	q.items = append(q.items, append([]byte{}, val...))
	kept := q.owners[:0]
	for _, o := range q.owners {
		if live(o) {
			kept = append(kept, o)
		}
	}
	q.owners = kept
	if len(kept) > 0 {
		return kept[0], true, nil
	}
	return owner, false, nil
}

// Dequeue removes and returns the oldest item of queue id.
func (s *Store[O]) Dequeue(id uint32) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.byID[id]
	if !ok {
		return nil, ErrNotFound
	}
	if len(q.items) == 0 {
		return nil, ErrEmpty
	}
	it := q.items[0]
	q.items = q.items[1:]
	return it, nil
}

// DropOwners forgets, in every queue, the registrants keep does not keep.
func (s *Store[O]) DropOwners(keep func(O) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range s.queues {
		kept := q.owners[:0]
		for _, o := range q.owners {
			if keep(o) {
				kept = append(kept, o)
			}
		}
		q.owners = kept
	}
}
