package search

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A term's postings read back as appended, at every length, while a reader reads them.
func TestTermPostings(t *testing.T) {
	var tm term
	var want []posting
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		var one [1]posting
		for {
			select {
			case <-done:
				return
			default:
			}
			ps := tm.postings(&one)
			for i, p := range ps {
				if p.doc != uint32(i) || p.tf != uint32(i%7+1) {
					t.Errorf("posting %d of %d: %+v", i, len(ps), p)
					return
				}
			}
		}
	})
	var one [1]posting
	for i := range 300 {
		assert.Equal(t, want, nonNil(tm.postings(&one)), "length %d", i)
		p := posting{doc: uint32(i), tf: uint32(i%7 + 1)}
		tm.add(p)
		want = append(want, p)
	}
	close(done)
	wg.Wait()
	require.Equal(t, want, tm.postings(&one))

	for _, n := range []int{1, 2, 3, 5} {
		remap := make([]uint32, 300)
		for i := range n {
			remap[i*2] = uint32(i + 1)
		}
		nt := remapTerm(&tm, remap)
		var kept []posting
		for i := range n {
			kept = append(kept, posting{doc: uint32(i), tf: uint32(i*2%7 + 1)})
		}
		assert.Equal(t, kept, nt.postings(&one), "%d kept", n)
		nt.add(posting{doc: 400, tf: 1})
		assert.Equal(t, append(kept, posting{doc: 400, tf: 1}), nt.postings(&one), "%d kept, then one more", n)
	}
	assert.Nil(t, remapTerm(&tm, make([]uint32, 300)), "none kept")
}

func nonNil(ps []posting) []posting {
	if len(ps) == 0 {
		return nil
	}
	return append([]posting(nil), ps...)
}
