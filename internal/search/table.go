package search

import (
	"math/bits"
	"sync/atomic"
)

// table is an append-only array of T in blocks that never move, written by one goroutine and
// read by many without locks. Blocks double from 16 to 4096 elements and then stay at 4096:
// a small index stays small, and the writer never copies what it holds (a large copy would
// stall the shard's actor, which every commit of the shard waits for).
//
// Publication: the writer fills slot len, then stores len+1 in n. A reader loads n, then the
// directory; the directory it gets holds every block below n, and every element below n was
// written before n was stored.
type table[T any] struct {
	n   atomic.Uint32
	dir atomic.Pointer[[][]T]

	blocks [][]T  // the writer's directory; dir points at a prefix of it
	len    uint32 // the writer's n
}

const (
	firstBlockBits = 4
	maxBlockBits   = 12
	firstBlockSize = 1 << firstBlockBits
	maxBlockSize   = 1 << maxBlockBits
	growingBlocks  = maxBlockBits - firstBlockBits + 1
	growingLen     = firstBlockSize * (1<<growingBlocks - 1)
)

// next returns the slot of element len, for the writer to fill before commit.
func (t *table[T]) next() *T {
	b, off := locate(t.len)
	if b == len(t.blocks) {
		size := maxBlockSize
		if b < growingBlocks {
			size = firstBlockSize << b
		}
		t.blocks = append(t.blocks, make([]T, size))
		dir := t.blocks
		t.dir.Store(&dir)
	}
	return &t.blocks[b][off]
}

// commit publishes the slot next returned.
func (t *table[T]) commit() {
	t.len++
	t.n.Store(t.len)
}

// at returns element i (< len) for the writer.
func (t *table[T]) at(i uint32) *T {
	b, off := locate(i)
	return &t.blocks[b][off]
}

// view is a reader's look at a table: its first n elements.
type view[T any] struct {
	dir [][]T
	n   uint32
}

func (t *table[T]) view() view[T] {
	n := t.n.Load()
	if n == 0 {
		return view[T]{}
	}
	return view[T]{dir: *t.dir.Load(), n: n}
}

// at returns element i (< n).
func (v view[T]) at(i uint32) *T {
	b, off := locate(i)
	return &v.dir[b][off]
}

// locate returns the block holding element i and i's offset in it.
func locate(i uint32) (block int, off uint32) {
	if i < growingLen {
		b := bits.Len32(i/firstBlockSize+1) - 1
		return b, i - firstBlockSize*(1<<b-1)
	}
	i -= growingLen
	return growingBlocks + int(i/maxBlockSize), i % maxBlockSize
}
