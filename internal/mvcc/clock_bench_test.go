package mvcc

import "testing"

// BenchmarkClockNow is what a single read pays for its snapshot: one atomic load (bar:
// tens of ns, no allocation).
func BenchmarkClockNow(b *testing.B) {
	var c Clock
	c.Publish(42)
	b.ReportAllocs()
	var sink uint64
	for b.Loop() {
		sink += c.Now()
	}
	_ = sink
}

// BenchmarkClockPinUnpin is what a transaction pays to pin its snapshot against trimming.
func BenchmarkClockPinUnpin(b *testing.B) {
	var c Clock
	c.Publish(42)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Unpin(c.Pin())
		}
	})
}
