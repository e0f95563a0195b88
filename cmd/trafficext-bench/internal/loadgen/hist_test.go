package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestNearestRank(t *testing.T) {
	for _, c := range []struct {
		q    float64
		n    int
		want int
	}{
		{0, 10, 1}, {0.5, 10, 5}, {0.51, 10, 6}, {0.99, 10, 10}, {1, 10, 10},
		{0.5, 1, 1}, {0.99, 1000, 990}, {0.999, 1000, 999}, {0.5, 0, 0},
	} {
		if got := NearestRank(c.q, c.n); got != c.want {
			t.Errorf("NearestRank(%v, %d) = %d, want %d", c.q, c.n, got, c.want)
		}
	}
}

func TestExactPercentile(t *testing.T) {
	s := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for q, want := range map[float64]time.Duration{0: 1, 0.5: 5, 0.9: 9, 0.95: 10, 1: 10} {
		if got := ExactPercentile(s, q); got != want {
			t.Errorf("ExactPercentile(%v) = %v, want %v", q, got, want)
		}
	}
	if got := ExactPercentile(nil, 0.5); got != 0 {
		t.Errorf("empty: %v", got)
	}
}

func TestBucketsRoundTrip(t *testing.T) {
	// Every bucket's range maps back to the bucket, buckets are contiguous and the relative
	// width is bounded.
	var prevHi uint64
	for i := range nBuckets {
		lo, hi := bucketRange(i)
		if i > 0 && lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d [%d,%d] maps to %d,%d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if lo > 0 && float64(hi-lo)/float64(lo) > 1.0/subCount {
			t.Fatalf("bucket %d [%d,%d] too wide", i, lo, hi)
		}
		prevHi = hi
	}
	if prevHi != math.MaxUint64 {
		t.Fatalf("last bucket ends at %d", prevHi)
	}
}

func TestPercentileMatchesExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 7, 100, 10_000, 200_000} {
		h := NewHistogram()
		s := make([]time.Duration, n)
		for i := range s {
			// Log-normal-ish latencies around 100µs with a long tail.
			d := time.Duration(math.Exp(r.NormFloat64()*0.8) * 100e3)
			if r.IntN(1000) == 0 {
				d *= 50
			}
			s[i] = d
			h.Record(d)
		}
		slices.Sort(s)
		for _, q := range []float64{0, 0.01, 0.5, 0.9, 0.99, 0.999, 1} {
			want := ExactPercentile(s, q)
			got := h.Percentile(q)
			if rel := math.Abs(float64(got-want)) / float64(want); rel > 1.0/(2*subCount) {
				t.Errorf("n=%d q=%v: got %v, exact %v (rel err %.4f)", n, q, got, want, rel)
			}
		}
		if h.Min() != s[0] || h.Max() != s[n-1] || h.Count() != uint64(n) {
			t.Errorf("n=%d: min/max/count %v %v %d, want %v %v %d", n, h.Min(), h.Max(), h.Count(), s[0], s[n-1], n)
		}
	}
}

func TestPercentileSmallValuesExact(t *testing.T) {
	h := NewHistogram()
	for v := 1; v <= 100; v++ {
		h.Record(time.Duration(v))
	}
	for q, want := range map[float64]time.Duration{0.5: 50, 0.99: 99, 1: 100, 0: 1} {
		if got := h.Percentile(q); got != want {
			t.Errorf("q=%v: %v, want %v", q, got, want)
		}
	}
}

func TestMerge(t *testing.T) {
	a, b, all := NewHistogram(), NewHistogram(), NewHistogram()
	for i := range 1000 {
		d := time.Duration(i*i) * time.Microsecond
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
		all.Record(d)
	}
	m := NewHistogram()
	m.Merge(a)
	m.Merge(b)
	m.Merge(NewHistogram())
	for _, q := range []float64{0, 0.5, 0.99, 1} {
		if m.Percentile(q) != all.Percentile(q) {
			t.Errorf("q=%v: merged %v, direct %v", q, m.Percentile(q), all.Percentile(q))
		}
	}
	if m.Count() != 1000 || m.Min() != 0 || m.Max() != all.Max() || m.Mean() != all.Mean() {
		t.Errorf("merged summary differs")
	}
	if NewHistogram().Percentile(0.5) != 0 || NewHistogram().Mean() != 0 {
		t.Errorf("empty histogram not zero")
	}
}
