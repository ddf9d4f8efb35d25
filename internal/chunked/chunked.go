// Package chunked is an append-only list kept in blocks that never move.
//
// Appending to a slice that is full copies all of it; for the primitives that copy runs on a
// shard's actor, which every commit of the shard waits for, and grows with the list (a run's
// event log of a million events is a 128 MB copy). A List never copies what it holds: blocks
// double from 1 to 1024 elements and then stay at 1024, so a short list stays small and
// element i is found by arithmetic. The first block holds a single element because most lists
// are short (a run's journal of one transaction, a run's few events) and there are many of
// them: a first block of 8 was most of what such a list cost.
//
// One goroutine appends to a List; any number read Views of it. A View is what the list held
// when it was taken: later appends write only past it, so a View is read without locking once
// it has been handed over (through a mutex, a channel or an atomic pointer).
package chunked

import (
	"iter"
	"math/bits"
)

const (
	firstBlock = 1
	maxBlock   = 1024
	// growing is how many elements the doubling blocks (1, 2, …, 1024) hold together.
	growing      = 2*maxBlock - firstBlock
	growingCount = 11 // log2(maxBlock/firstBlock) + 1
)

// List is an append-only list. The zero value is empty and ready to use.
type List[T any] struct {
	full [][]T // the full blocks, oldest first; appended to, never changed
	tail []T   // the block being filled: appends touch only it, and this header
}

// Append adds v at the end.
func (l *List[T]) Append(v T) {
	if len(l.tail) == cap(l.tail) {
		if l.tail != nil {
			l.full = append(l.full, l.tail)
		}
		l.tail = make([]T, 0, blockSize(len(l.full)))
	}
	l.tail = append(l.tail, v)
}

// Len is the number of elements.
func (l *List[T]) Len() int { return blockStart(len(l.full)) + len(l.tail) }

// Last returns the last element; false if there is none.
func (l *List[T]) Last() (T, bool) {
	if len(l.tail) == 0 {
		var zero T
		return zero, false
	}
	return l.tail[len(l.tail)-1], true
}

// Ptr returns the address of element i (0 ≤ i < Len), for the appending goroutine to update
// it in place. Readers of views see such updates: they must then read that element (or its
// updated fields) atomically, through Blocks, never by copying it.
func (l *List[T]) Ptr(i int) *T {
	if i < 0 || i >= l.Len() {
		panic("chunked: index out of range")
	}
	b, off := locate(i)
	if b < len(l.full) {
		return &l.full[b][off]
	}
	return &l.tail[off]
}

// View returns the list as it is now.
func (l *List[T]) View() View[T] {
	return View[T]{full: l.full[:len(l.full):len(l.full)], tail: l.tail[:len(l.tail):len(l.tail)], n: l.Len()}
}

// View is a list's first Len elements, as they were when it was taken. The zero value is empty.
type View[T any] struct {
	full [][]T
	tail []T
	n    int
}

// Len is the number of elements in the view.
func (v View[T]) Len() int { return v.n }

// Prefix returns the view's first n elements (n ≤ Len).
func (v View[T]) Prefix(n int) View[T] {
	if n < 0 || n > v.n {
		panic("chunked: prefix longer than the view")
	}
	v.n = n
	return v
}

// At returns element i (0 ≤ i < Len).
func (v View[T]) At(i int) T {
	if i < 0 || i >= v.n {
		panic("chunked: index out of range")
	}
	b, off := locate(i)
	if b < len(v.full) {
		return v.full[b][off]
	}
	return v.tail[off]
}

// Last returns the last element; false if the view is empty.
func (v View[T]) Last() (T, bool) {
	if v.n == 0 {
		var zero T
		return zero, false
	}
	return v.At(v.n - 1), true
}

// All yields the view's elements in order, with their indexes.
func (v View[T]) All() iter.Seq2[int, T] {
	return func(yield func(int, T) bool) {
		i := 0
		for b := range v.blocks() {
			for _, e := range b[:min(len(b), v.n-i)] {
				if !yield(i, e) {
					return
				}
				i++
			}
			if i == v.n {
				return
			}
		}
	}
}

// Blocks yields the view's elements in order, as slices of the list's blocks: a loop over
// them costs no call per element, and reads the elements in place.
func (v View[T]) Blocks() iter.Seq[[]T] {
	return func(yield func([]T) bool) {
		n := v.n
		for b := range v.blocks() {
			b = b[:min(len(b), n)]
			if len(b) > 0 && !yield(b) {
				return
			}
			if n -= len(b); n == 0 {
				return
			}
		}
	}
}

// Slice copies elements [from, to) into a new slice.
func (v View[T]) Slice(from, to int) []T {
	if from < 0 || from > to || to > v.n {
		panic("chunked: slice out of range")
	}
	out := make([]T, 0, to-from)
	for i := from; i < to; {
		b, off := locate(i)
		block := v.tail
		if b < len(v.full) {
			block = v.full[b]
		}
		part := block[off:min(len(block), off+to-i)]
		out = append(out, part...)
		i += len(part)
	}
	return out
}

// blocks yields the full blocks, then the tail.
func (v View[T]) blocks() iter.Seq[[]T] {
	return func(yield func([]T) bool) {
		for _, b := range v.full {
			if !yield(b) {
				return
			}
		}
		yield(v.tail)
	}
}

// blockSize is the capacity of block b.
func blockSize(b int) int {
	if b < growingCount {
		return firstBlock << b
	}
	return maxBlock
}

// blockStart is the index of block b's first element.
func blockStart(b int) int {
	if b < growingCount {
		return firstBlock * (1<<b - 1)
	}
	return growing + (b-growingCount)*maxBlock
}

// locate returns the block holding element i and i's offset in it.
func locate(i int) (block, off int) {
	if i < growing {
		b := bits.Len(uint(i/firstBlock+1)) - 1
		return b, i - blockStart(b)
	}
	i -= growing
	return growingCount + i/maxBlock, i % maxBlock
}
