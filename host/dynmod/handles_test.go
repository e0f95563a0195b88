package dynmod

import (
	"sync"
	"testing"
)

func TestHandleTable(t *testing.T) {
	tests := []struct {
		name string
		// live handles to create, then the indexes (into the created handles) to remove
		add    int
		remove []int
		// after removing, this many more are added: they must reuse the freed slots, most
		// recently freed first
		readd int
	}{
		{name: "one", add: 1},
		{name: "add remove reuse", add: 3, remove: []int{1}, readd: 1},
		{name: "across pages", add: handlePageSize + 5, remove: []int{0, handlePageSize, handlePageSize + 4}, readd: 3},
		{name: "remove all then refill", add: 4, remove: []int{0, 1, 2, 3}, readd: 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tab handleTable[int]
			vals := make([]int, tc.add)
			hs := make([]uintptr, tc.add)
			seen := map[uintptr]bool{}
			for i := range vals {
				vals[i] = i
				h, ok := tab.add(&vals[i])
				if !ok || h == 0 || seen[h] {
					t.Fatalf("add %d: handle %d ok %v (duplicate %v)", i, h, ok, seen[h])
				}
				seen[h], hs[i] = true, h
			}
			for i, h := range hs {
				if got := tab.get(h); got != &vals[i] {
					t.Fatalf("get(%d) = %p, want %p", h, got, &vals[i])
				}
			}
			for _, i := range tc.remove {
				tab.remove(hs[i])
				if got := tab.get(hs[i]); got != nil {
					t.Fatalf("get after remove(%d) = %v", hs[i], got)
				}
			}
			for k := 0; k < tc.readd; k++ {
				v := -k
				h, ok := tab.add(&v)
				want := hs[tc.remove[len(tc.remove)-1-k]]
				if !ok || h != want {
					t.Fatalf("re-add %d: handle %d, want the freed %d", k, h, want)
				}
				if tab.get(h) != &v {
					t.Fatalf("re-added handle %d does not hold its value", h)
				}
			}
		})
	}
}

func TestHandleTableConcurrent(t *testing.T) {
	var tab handleTable[int]
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 5000; i++ {
				v := w*1_000_000 + i
				h, ok := tab.add(&v)
				if !ok {
					t.Error("table full")
					return
				}
				if got := tab.get(h); got != &v || *got != v {
					t.Errorf("worker %d: handle %d holds %v", w, h, got)
					return
				}
				tab.remove(h)
			}
		}(w)
	}
	wg.Wait()
}

func BenchmarkHandleTable(b *testing.B) {
	var tab handleTable[int]
	v := 1
	for i := 0; i < b.N; i++ {
		h, _ := tab.add(&v)
		for e := 0; e < 6; e++ { // a stream's events
			tab.get(h)
		}
		tab.remove(h)
	}
}
