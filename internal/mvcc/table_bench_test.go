package mvcc

import (
	"fmt"
	"testing"
)

// BenchmarkTablePushTrimPinned is a shard actor's work per commit on one hot name while a
// reader (a snapshot being written) pins an old version: push a version, then trim. What the
// pinned reader sees cannot change until it unpins, so the cost per commit must not grow with
// the number of versions pushed since the pin.
func BenchmarkTablePushTrimPinned(b *testing.B) {
	for _, since := range []int{100, 10_000} {
		b.Run(fmt.Sprintf("versions-since-pin=%d", since), func(b *testing.B) {
			tb := NewTable[int, int](false, func(r int, seed uint64) uint64 { return uint64(r) ^ seed })
			const pinned = 1
			tb.Push(0, "k", pinned, 0, false)
			commit := uint64(pinned)
			for range since {
				commit++
				tb.Push(0, "k", commit, 0, false)
			}
			tb.Trim(pinned)
			b.ReportAllocs()
			for b.Loop() {
				commit++
				tb.Push(0, "k", commit, 0, false)
				tb.Trim(pinned)
			}
		})
	}
}

// BenchmarkNamesSplit: splitting one full bucket of a run's names, the most any insert pays
// for the run's growth: 2.7 ms here (2026-12-07, 50 splits of 16 384 names).
func BenchmarkNamesSplit(b *testing.B) {
	keys := make([]string, splitAt)
	for i := range keys {
		keys[i] = fmt.Sprintf("key/%09d", i)
	}
	for b.Loop() {
		b.StopTimer()
		ns := newNames[int]()
		bk := ns.toDirectory().slots[0]
		for _, k := range keys {
			bk.m.Store(k, &record[int]{name: k})
			bk.n++
		}
		b.StartTimer()
		ns.split(bk)
	}
}
