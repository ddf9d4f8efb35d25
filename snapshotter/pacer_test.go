package snapshotter

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
)

// Sleeps that run long are paid back by shorter pauses later, so the duty cycle holds over
// the snapshot however coarse the timer is.
func TestPacerEvensOutLongSleeps(t *testing.T) {
	defer func(s func(time.Duration)) { sleep = s }(sleep)
	sleep = func(d time.Duration) { time.Sleep(2 * d) } // every sleep twice as long as asked
	synctest.Test(t, func(t *testing.T) {
		log := int64(0)
		p := newPacer(0.5, func() int64 { log++; return log }) // the log always moves
		start := time.Now()
		for range 20 {
			time.Sleep(10 * time.Millisecond) // work
			p.pause()
		}
		took := time.Since(start)
		assert.InDelta(t, 400*time.Millisecond, took, float64(20*time.Millisecond), "took %v", took)
	})
}

// Pauses shorter than minPause are saved up, not slept one by one.
func TestPacerSavesUpShortPauses(t *testing.T) {
	defer func(s func(time.Duration)) { sleep = s }(sleep)
	var slept []time.Duration
	sleep = func(d time.Duration) { slept = append(slept, d); time.Sleep(d) }
	synctest.Test(t, func(t *testing.T) {
		log := int64(0)
		p := newPacer(0.5, func() int64 { log++; return log })
		for range 10 {
			time.Sleep(minPause / 4)
			p.pause()
		}
		assert.Len(t, slept, 2, "ten pauses of a quarter of minPause: two sleeps of minPause")
		for _, d := range slept {
			assert.Equal(t, minPause, d)
		}
	})
}
