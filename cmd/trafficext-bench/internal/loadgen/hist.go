package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// subBits is the number of mantissa bits kept per power of two: 2^subBits sub-buckets give a
// relative bucket width of at most 1/2^subBits (0.78%), like an HDR histogram with two
// significant decimal digits.
const subBits = 7

const (
	subCount  = 1 << subBits       // sub-buckets per power of two
	linearMax = 1 << (subBits + 1) // values below this are recorded exactly
	// nBuckets covers every uint64: linear part plus one half-range per possible shift.
	nBuckets = linearMax + (64-subBits-1)*subCount
)

// Histogram records durations (nanoseconds) in log-linear buckets with constant memory and
// bounded relative error. It is not safe for concurrent use; give each worker its own and
// Merge them.
type Histogram struct {
	counts   [nBuckets]uint64
	n        uint64
	min, max uint64
	sum      float64
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram { return &Histogram{min: math.MaxUint64} }

func bucketOf(v uint64) int {
	if v < linearMax {
		return int(v)
	}
	shift := bits.Len64(v) - (subBits + 1) // >= 1
	top := v >> uint(shift)                // in [subCount, 2*subCount)
	return linearMax + (shift-1)*subCount + int(top-subCount)
}

// bucketRange returns the smallest and largest value that fall into bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < linearMax {
		return uint64(i), uint64(i)
	}
	j := i - linearMax
	shift := uint(j/subCount + 1)
	top := uint64(j%subCount + subCount)
	return top << shift, (top+1)<<shift - 1
}

// Record adds one observation.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(0)
	if d > 0 {
		v = uint64(d)
	}
	h.counts[bucketOf(v)]++
	h.n++
	h.sum += float64(v)
	if v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
}

// Merge adds all observations of o.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// Count is the number of observations.
func (h *Histogram) Count() uint64 { return h.n }

// Min is the smallest observation (exact).
func (h *Histogram) Min() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.min)
}

// Max is the largest observation (exact).
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean is the arithmetic mean (exact).
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Percentile returns the q-quantile (0 <= q <= 1) by the nearest-rank method: the smallest
// recorded value v such that at least q of all observations are <= v. The answer is the
// midpoint of that value's bucket, clamped to the exact min and max, so its relative error is
// below 1/2^(subBits+1). An empty histogram yields 0.
func (h *Histogram) Percentile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := NearestRank(q, int(h.n))
	var cum uint64
	for i, c := range h.counts {
		if c == 0 {
			continue
		}
		cum += c
		if cum >= uint64(rank) {
			lo, hi := bucketRange(i)
			v := lo + (hi-lo)/2
			v = max(v, h.min)
			v = min(v, h.max)
			return time.Duration(v)
		}
	}
	return time.Duration(h.max)
}

// NearestRank is the 1-based rank of the q-quantile among n sorted observations:
// ceil(q*n), at least 1 and at most n.
func NearestRank(q float64, n int) int {
	if n <= 0 {
		return 0
	}
	r := int(math.Ceil(q * float64(n)))
	return max(1, min(r, n))
}

// ExactPercentile is the nearest-rank q-quantile of an ascending sorted sample.
func ExactPercentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[NearestRank(q, len(sorted))-1]
}
