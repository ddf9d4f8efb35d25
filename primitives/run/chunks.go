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
	full [][]T // the full blocks, oldest first
	tail []T   // the block being filled: appends touch only it (and its header, here)
	n    int
}

const (
	firstBlock = 8
	maxBlock   = 1024
)

func (c *chunks[T]) append(vs ...T) {
	for _, v := range vs {
		if len(c.tail) == cap(c.tail) {
			size := firstBlock
			if c.tail != nil {
				c.full = append(c.full, c.tail)
				size = min(2*cap(c.tail), maxBlock)
			}
			c.tail = make([]T, 0, size)
		}
		c.tail = append(c.tail, v)
		c.n++
	}
}

// snapshot returns the sequence as it is now; later appends do not change it.
func (c *chunks[T]) snapshot() chunks[T] {
	return chunks[T]{full: slices.Clone(c.full), tail: c.tail, n: c.n}
}

// last returns the last element; false if there is none.
func (c *chunks[T]) last() (T, bool) {
	if c.n == 0 {
		var zero T
		return zero, false
	}
	return c.tail[len(c.tail)-1], true
}

// blocks yields every block, the partial tail last.
func (c chunks[T]) blocks() iter.Seq[[]T] {
	return func(yield func([]T) bool) {
		for _, b := range c.full {
			if !yield(b) {
				return
			}
		}
		yield(c.tail)
	}
}

// at returns element i < n.
func (c chunks[T]) at(i int) T {
	for b := range c.blocks() {
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
		for b := range c.blocks() {
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
