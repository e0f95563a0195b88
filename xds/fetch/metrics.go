package fetch

import (
	"sync"
	"sync/atomic"
)

// Metrics are the fetcher's counters since it was created, and the cache's current size.
type Metrics struct {
	// Success counts fetches that produced a module (cache hits included); Failure those that
	// did not, and FailureByReason splits Failure by Reason.
	Success, Failure uint64
	FailureByReason  map[Reason]uint64
	// CacheHits counts fetches answered from the disk cache without downloading a module;
	// Downloads counts modules downloaded.
	CacheHits, Downloads uint64
	// Corrupt counts cache entries that failed digest verification (and were fetched again);
	// Evictions counts modules evicted to keep the cache within its bound.
	Corrupt, Evictions uint64
	// CacheBytes and CacheModules describe the cache now.
	CacheBytes   int64
	CacheModules int
}

type counters struct {
	success, failure, hits, downloads, corrupt, evictions atomic.Uint64
	cacheBytes                                            atomic.Int64
	cacheModules                                          atomic.Int64

	mu       sync.Mutex
	byReason map[Reason]uint64
}

func newCounters() *counters { return &counters{byReason: map[Reason]uint64{}} }

func (c *counters) fail(r Reason) {
	c.failure.Add(1)
	c.mu.Lock()
	c.byReason[r]++
	c.mu.Unlock()
}

func (c *counters) setCache(bytes int64, modules int) {
	c.cacheBytes.Store(bytes)
	c.cacheModules.Store(int64(modules))
}

func (c *counters) snapshot() Metrics {
	m := Metrics{
		Success: c.success.Load(), Failure: c.failure.Load(),
		CacheHits: c.hits.Load(), Downloads: c.downloads.Load(),
		Corrupt: c.corrupt.Load(), Evictions: c.evictions.Load(),
		CacheBytes: c.cacheBytes.Load(), CacheModules: int(c.cacheModules.Load()),
		FailureByReason: map[Reason]uint64{},
	}
	c.mu.Lock()
	for r, n := range c.byReason {
		m.FailureByReason[r] = n
	}
	c.mu.Unlock()
	return m
}
