package changefeed

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// lagErr is the test feed's lagged error.
type lagErr struct{ last uint64 }

func (e *lagErr) Error() string { return fmt.Sprintf("lagged after %d", e.last) }

// A change is an int: its own version; its route is its value mod 10.
func newIntFeed() *Feed[int, int] {
	return New(func(c int) uint64 { return uint64(c) },
		func(last uint64) error { return &lagErr{last} },
		func(c int, yield func(int)) { yield(c % 10) })
}

var errClosed = errors.New("closed")

func receive(t *testing.T, s *Subscription[int, int]) (int, bool) {
	t.Helper()
	select {
	case c, ok := <-s.C():
		return c, ok
	case <-time.After(20 * time.Second):
		t.Fatal("nothing received")
		return 0, false
	}
}

// A subscription gets the changes filed under its routes that it matches, in order, each once,
// through an overflow larger than its channel; it ends with the feed.
func TestFeedRoutesMatchesAndOrder(t *testing.T) {
	f := newIntFeed()
	evens, err := f.Subscribe([]int{0, 2, 4, 6, 8}, func(c int) bool { return c%2 == 0 }, 10000)
	if err != nil {
		t.Fatal(err)
	}
	threes, err := f.Subscribe([]int{3}, func(c int) bool { return true }, 10000)
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000 // far more than a channel holds: the overflow and its pump carry the rest
	for i := 1; i <= n; i += 100 {
		f.Publish(func() []int {
			var cs []int
			for c := i; c < i+100; c++ {
				cs = append(cs, c)
			}
			return cs
		})
	}
	for want := 2; want <= n; want += 2 {
		if c, ok := receive(t, evens); !ok || c != want {
			t.Fatalf("evens: got %d (%v), want %d", c, ok, want)
		}
	}
	for want := 3; want <= n; want += 10 {
		if c, ok := receive(t, threes); !ok || c != want {
			t.Fatalf("threes: got %d (%v), want %d", c, ok, want)
		}
	}
	f.Close(errClosed)
	if _, ok := receive(t, evens); ok || !errors.Is(evens.Err(), errClosed) {
		t.Fatalf("after Close: %v", evens.Err())
	}
	if _, err := f.Subscribe(nil, nil, 1); !errors.Is(err, errClosed) {
		t.Fatalf("Subscribe after Close: %v", err)
	}
}

// A subscriber that does not read ends with the lagged error once its buffer is full, having
// been given a prefix; the feed goes on for the others.
func TestFeedLagged(t *testing.T) {
	f := newIntFeed()
	defer f.Close(errClosed)
	slow, _ := f.Subscribe([]int{1}, func(int) bool { return true }, 100)
	fast, _ := f.Subscribe([]int{1}, func(int) bool { return true }, 100)
	for i := 0; i < 300; i++ {
		c := i*10 + 1
		f.Publish(func() []int { return []int{c} })
		if v, ok := receive(t, fast); !ok || v != c {
			t.Fatalf("fast: %d %v", v, ok)
		}
	}
	// Every change was offered to slow before fast received it: slow has ended by now.
	if slow.Err() == nil {
		t.Fatal("a subscriber 300 changes behind a buffer of 100 has not lagged")
	}
	var last int
	n := 0
	for c := range slow.C() {
		last = c
		n++
	}
	var lag *lagErr
	if n < 32 || n > 100 || !errors.As(slow.Err(), &lag) {
		t.Fatalf("slow got %d, err %v", n, slow.Err())
	}
	// The version it names was given to the subscriber (the pump's record may be one behind):
	// everything it missed is newer.
	if lag.last == 0 || lag.last > uint64(last) {
		t.Fatalf("lagged after %d, last received %d", lag.last, last)
	}
}

// With no subscription Publish does not even call the function.
func TestFeedIdle(t *testing.T) {
	f := newIntFeed()
	defer f.Close(errClosed)
	f.Publish(func() []int { t.Error("described with no subscriber"); return nil })
	s, _ := f.Subscribe([]int{1}, func(int) bool { return true }, 1)
	s.End(nil)
	if f.Active() {
		t.Fatal("active after the last subscription ended")
	}
	if _, ok := <-s.C(); ok || s.Err() != nil {
		t.Fatal("End(nil): closed, no error")
	}
}
