package mvcc_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/inmemdb/inmem/internal/mvcc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClockExtNowAndPublish(t *testing.T) {
	var c mvcc.Clock
	assert.Zero(t, c.Now(), "zero clock: nothing published")
	assert.Zero(t, c.Oldest())
	for _, v := range []uint64{1, 2, 7, 100} {
		c.Publish(v)
		assert.Equal(t, v, c.Now())
		assert.Equal(t, v, c.Oldest(), "no pins: oldest follows visible")
	}
}

func TestClockExtPinReturnsVisible(t *testing.T) {
	var c mvcc.Clock
	assert.Zero(t, c.Pin(), "pin on a zero clock")
	c.Unpin(0)
	c.Publish(4)
	s := c.Pin()
	assert.EqualValues(t, 4, s)
	c.Publish(5)
	assert.EqualValues(t, 5, c.Now())
	assert.EqualValues(t, 4, c.Oldest(), "publishing does not move past a pin")
	assert.EqualValues(t, 5, c.Pin())
	c.Unpin(5)
	c.Unpin(s)
	assert.EqualValues(t, 5, c.Oldest())
}

func TestClockExtOldestIsMinOfPinsAndVisible(t *testing.T) {
	var c mvcc.Clock
	c.Publish(3)
	p3 := c.Pin()
	c.Publish(5)
	p5 := c.Pin()
	c.Publish(7)
	p7 := c.Pin()
	c.Publish(9)
	require.Equal(t, []uint64{3, 5, 7}, []uint64{p3, p5, p7})
	assert.EqualValues(t, 3, c.Oldest())

	c.Unpin(p5) // not the oldest: nothing moves
	assert.EqualValues(t, 3, c.Oldest())
	c.Unpin(p3) // the oldest: moves to the next pin
	assert.EqualValues(t, 7, c.Oldest())
	c.Publish(11)
	assert.EqualValues(t, 7, c.Oldest())
	c.Unpin(p7) // the last pin: moves to visible
	assert.EqualValues(t, 11, c.Oldest())
	c.Publish(12)
	assert.EqualValues(t, 12, c.Oldest())
}

func TestClockExtSeveralPinsAtOneVersion(t *testing.T) {
	var c mvcc.Clock
	c.Publish(2)
	pins := []uint64{c.Pin(), c.Pin(), c.Pin()}
	c.Publish(6)
	for i, p := range pins {
		assert.EqualValues(t, 2, p)
		assert.EqualValues(t, 2, c.Oldest(), "%d of 3 unpinned", i)
		c.Unpin(p)
	}
	assert.EqualValues(t, 6, c.Oldest(), "all three unpinned")
}

// While a reader holds a pin, Oldest never passes it, however others pin, unpin and publish.
func TestClockExtConcurrentPinsNeverPassed(t *testing.T) {
	var c mvcc.Clock
	c.Publish(1)
	var bad atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				s := c.Pin()
				if o := c.Oldest(); o > s {
					bad.Add(1)
				}
				if n := c.Now(); n < s {
					bad.Add(1)
				}
				c.Unpin(s)
			}
		}()
	}
	for v := uint64(2); v <= 20000; v++ {
		c.Publish(v)
		if o := c.Oldest(); o > v {
			bad.Add(1)
		}
	}
	close(stop)
	wg.Wait()
	assert.Zero(t, bad.Load())
	assert.EqualValues(t, 20000, c.Oldest(), "every pin released")
}
