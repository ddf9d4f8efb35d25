package chunked

import (
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Every length across the doubling blocks and well into the fixed ones.
func TestListMatchesASlice(t *testing.T) {
	var l List[int]
	var want []int
	var views []View[int]
	for i := range 7000 {
		require.Equal(t, len(want), l.Len())
		views = append(views, l.View())
		l.Append(i * 3)
		want = append(want, i*3)
		last, ok := l.Last()
		require.True(t, ok)
		require.Equal(t, i*3, last)
	}
	v := l.View()
	for i, x := range want {
		require.Equal(t, x, v.At(i), "element %d", i)
	}
	var all []int
	for i, x := range v.All() {
		require.Equal(t, len(all), i)
		all = append(all, x)
	}
	assert.Equal(t, want, all)
	for _, r := range [][2]int{{0, 0}, {0, 7000}, {5, 9}, {7, 8}, {2039, 2041}, {1000, 5000}, {6999, 7000}} {
		assert.Equal(t, want[r[0]:r[1]], v.Slice(r[0], r[1]), "slice %v", r)
	}
	// Views taken earlier still show what the list held then.
	for n, old := range views {
		require.Equal(t, n, old.Len())
		if n > 0 {
			last, ok := old.Last()
			require.True(t, ok)
			require.Equal(t, want[n-1], last)
		}
		if n%97 == 0 || n == growing || n == growing+1 {
			require.Equal(t, want[:n], old.Slice(0, n))
		}
	}
	p := v.Prefix(100)
	assert.Equal(t, 100, p.Len())
	assert.Equal(t, want[:100], slices.Collect(func(yield func(int) bool) {
		for _, x := range p.All() {
			if !yield(x) {
				return
			}
		}
	}))
}

// Appends never move what is there, a short list stays small, and a view ranges the same
// every time.
func TestBlocks(t *testing.T) {
	var l List[int]
	for i := range 5000 {
		l.Append(i)
	}
	first := &l.full[0][0]
	v := l.View()
	for i := range 3000 {
		l.Append(5000 + i)
	}
	assert.Same(t, first, &l.full[0][0], "blocks never move")
	assert.Equal(t, firstBlock, cap(l.full[0]), "a short list stays small")
	for _, b := range l.full {
		assert.LessOrEqual(t, cap(b), maxBlock)
		assert.Equal(t, len(b), cap(b), "full blocks are full")
	}
	collect := func() (out []int) {
		for _, x := range v.All() {
			out = append(out, x)
		}
		return out
	}
	once := collect()
	assert.Len(t, once, 5000)
	assert.Equal(t, once, collect(), "a view ranges the same twice")
}

func TestEmpty(t *testing.T) {
	var l List[string]
	_, ok := l.Last()
	assert.False(t, ok)
	v := l.View()
	assert.Zero(t, v.Len())
	_, ok = v.Last()
	assert.False(t, ok)
	for range v.All() {
		t.Fatal("an empty view yields nothing")
	}
	var zero View[string]
	assert.Zero(t, zero.Len())
	assert.Empty(t, zero.Slice(0, 0))
}

func TestAllStopsEarly(t *testing.T) {
	var l List[int]
	for i := range 100 {
		l.Append(i)
	}
	n := 0
	for i := range l.View().All() {
		if i == 41 {
			break
		}
		n++
	}
	assert.Equal(t, 41, n)
}

func TestOutOfRangePanics(t *testing.T) {
	var l List[int]
	l.Append(1)
	v := l.View()
	assert.Panics(t, func() { v.At(1) })
	assert.Panics(t, func() { v.At(-1) })
	assert.Panics(t, func() { v.Slice(0, 2) })
	assert.Panics(t, func() { v.Prefix(2) })
}

// One goroutine appends while others read views handed over by a mutex: the race detector
// checks that appends never write what a view covers.
func TestViewsReadWhileAppending(t *testing.T) {
	var l List[int]
	var mu sync.Mutex
	var current View[int]
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				mu.Lock()
				v := current
				mu.Unlock()
				for i, x := range v.All() {
					if x != i {
						t.Errorf("element %d is %d", i, x)
						return
					}
				}
			}
		}()
	}
	for i := range 5000 {
		l.Append(i)
		if i%100 == 0 {
			mu.Lock()
			current = l.View()
			mu.Unlock()
		}
	}
	wg.Wait()
}

func BenchmarkAppend(b *testing.B) {
	var l List[[128]byte]
	var e [128]byte
	for b.Loop() {
		l.Append(e)
	}
}

func BenchmarkAt(b *testing.B) {
	var l List[int]
	for i := range 1 << 20 {
		l.Append(i)
	}
	v := l.View()
	i := 0
	for b.Loop() {
		_ = v.At(i & (1<<20 - 1))
		i += 7919
	}
}

// Blocks yields exactly the view's elements, in order, in place; Ptr addresses the element the
// views show.
func TestBlocksAndPtr(t *testing.T) {
	var l List[int]
	for n := range 3000 {
		v := l.View()
		var got []int
		for b := range v.Blocks() {
			require.NotEmpty(t, b, "an empty block at length %d", n)
			got = append(got, b...)
		}
		require.Len(t, got, n)
		for i, x := range got {
			require.Equal(t, i, x)
		}
		l.Append(n)
	}
	v := l.View().Prefix(1500)
	*l.Ptr(1499) = -1
	*l.Ptr(0) = -2
	var last, first int
	for b := range v.Blocks() {
		if first == 0 {
			first = b[0]
		}
		last = b[len(b)-1]
	}
	assert.Equal(t, -2, first, "Ptr addresses the element in place")
	assert.Equal(t, -1, last)
	assert.Panics(t, func() { l.Ptr(3000) })
	n := 0
	for range l.View().Blocks() {
		n++
		break
	}
	assert.Equal(t, 1, n, "stops when the loop does")
}
