package histogram

import (
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestQuantilesBoundTheValues(t *testing.T) {
	var h Histogram
	for v := uint64(1); v <= 1000; v++ {
		h.Record(v)
	}
	s := h.Snapshot()
	if s.Count != 1000 || s.Sum != 500500 || s.Max != 1000 {
		t.Fatalf("count %d sum %d max %d", s.Count, s.Sum, s.Max)
	}
	for _, c := range []struct {
		q      float64
		lo, hi uint64
	}{{0.5, 500, 511}, {0.99, 990, 1000}, {1, 1000, 1000}, {0.001, 1, 1}} {
		if got := s.Quantile(c.q); got < c.lo || got > c.hi {
			t.Errorf("q%.3f = %d, want in [%d, %d]", c.q, got, c.lo, c.hi)
		}
	}
	if (Snapshot{}).Quantile(0.5) != 0 || (Snapshot{}).Mean() != 0 {
		t.Error("an empty histogram is 0")
	}
}

func TestRecordConcurrently(t *testing.T) {
	var h Histogram
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				h.Record(uint64(g*1000 + i))
			}
		})
	}
	wg.Wait()
	if s := h.Snapshot(); s.Count != 8000 || s.Max != 7999 {
		t.Fatalf("count %d max %d", s.Count, s.Max)
	}
}
