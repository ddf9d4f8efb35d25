// Package histogram records distributions of non-negative integers (latencies in µs, sizes)
// into fixed power-of-two buckets, with atomic counters: recording costs a few atomic adds
// and never allocates or locks, so it can sit on the commit path.
package histogram

import (
	"math/bits"
	"sync/atomic"
)

// Buckets is the number of buckets: bucket i holds values v with bits.Len64(v) == i, that is
// [2^(i-1), 2^i) for i ≥ 1, and 0 in bucket 0.
const Buckets = 65

// Histogram is a distribution being recorded. The zero value is empty and ready to use.
type Histogram struct {
	count, sum, max atomic.Uint64
	buckets         [Buckets]atomic.Uint64
}

// Record adds one value.
func (h *Histogram) Record(v uint64) {
	h.count.Add(1)
	h.sum.Add(v)
	h.buckets[bits.Len64(v)].Add(1)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Snapshot is a histogram's counts at one moment.
type Snapshot struct {
	Count, Sum, Max uint64
	Buckets         [Buckets]uint64
}

// Snapshot reads the histogram (each counter atomically; the whole only about: records may
// land between the reads).
func (h *Histogram) Snapshot() Snapshot {
	s := Snapshot{Count: h.count.Load(), Sum: h.sum.Load(), Max: h.max.Load()}
	for i := range s.Buckets {
		s.Buckets[i] = h.buckets[i].Load()
	}
	return s
}

// Quantile returns an upper bound of the q-quantile (0 < q ≤ 1): the top of the bucket that
// holds it, capped at the largest value recorded. 0 for an empty histogram.
func (s Snapshot) Quantile(q float64) uint64 {
	var total uint64
	for _, n := range s.Buckets {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total) + 0.5)
	rank = max(rank, 1)
	var seen uint64
	for i, n := range s.Buckets {
		if seen += n; seen >= rank {
			if i == 0 {
				return 0
			}
			return min(uint64(1)<<i-1, s.Max)
		}
	}
	return s.Max
}

// Mean is Sum / Count, 0 when empty.
func (s Snapshot) Mean() float64 {
	if s.Count == 0 {
		return 0
	}
	return float64(s.Sum) / float64(s.Count)
}
