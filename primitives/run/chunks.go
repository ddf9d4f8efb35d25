package run

import (
	"iter"
	"slices"
)

// chunks is an append-only sequence kept in blocks that never move: appending never copies
// what is there, so a journal of millions of operations grows without a pause on its shard's
// actor. Blocks double from firstBlock to maxBlock elements, so a short journal stays small.
//
// It is not safe for concurrent use by itself: the journal appends under its lock and gives
// each reader a snapshot, whose block headers are its own; appends write only past the
// elements a snapshot covers.
type chunks[T any] struct {
	blocks [][]T
	n      int
}

const (
	firstBlock = 8
	maxBlock   = 1024
)

func (c *chunks[T]) append(vs ...T) {
	for _, v := range vs {
		k := len(c.blocks)
		if k == 0 || len(c.blocks[k-1]) == cap(c.blocks[k-1]) {
			size := firstBlock
			if k > 0 {
				size = min(2*cap(c.blocks[k-1]), maxBlock)
			}
			c.blocks = append(c.blocks, make([]T, 0, size))
			k++
		}
		c.blocks[k-1] = append(c.blocks[k-1], v)
		c.n++
	}
}

// snapshot returns the sequence as it is now; later appends do not change it.
func (c *chunks[T]) snapshot() chunks[T] { return chunks[T]{blocks: slices.Clone(c.blocks), n: c.n} }

// at returns element i < n.
func (c chunks[T]) at(i int) T {
	for _, b := range c.blocks {
		if i < len(b) {
			return b[i]
		}
		i -= len(b)
	}
	panic("run: chunks index out of range") // callers stay below n
}

// first yields the first n elements in order, every time it is ranged over.
func (c chunks[T]) first(n int) iter.Seq[T] {
	return func(yield func(T) bool) {
		left := n
		for _, b := range c.blocks {
			if left <= 0 {
				return
			}
			for _, v := range b[:min(left, len(b))] {
				if !yield(v) {
					return
				}
			}
			left -= len(b)
		}
	}
}
