package search

import "sync/atomic"

// posting says that document version doc holds the term tf times.
type posting struct {
	doc, tf uint32
}

// postBlock holds a term's postings in e[:n], in increasing doc order (docnums are given out
// in increasing order, and a document version's postings are appended when it is born).
type postBlock struct {
	n atomic.Uint32
	e []posting
}

// term is a dictionary entry: the postings of one token.
//
// The writer appends in place while the block has room, then copies into a block twice as
// large and publishes it; a reader holding the old block still reads a consistent prefix of
// it, and entries appended after its load are for document versions born after the version it
// reads at.
type term struct {
	blk atomic.Pointer[postBlock]

	tf uint32 // writer only: occurrences in the document being put
}

// add appends a posting; the writer only.
func (t *term) add(p posting) {
	b := t.blk.Load()
	if b == nil {
		b = &postBlock{e: make([]posting, 1)}
		b.e[0] = p
		b.n.Store(1)
		t.blk.Store(b)
		return
	}
	n := b.n.Load()
	if int(n) < len(b.e) {
		b.e[n] = p
		b.n.Store(n + 1)
		return
	}
	nb := &postBlock{e: make([]posting, 2*len(b.e))}
	copy(nb.e, b.e)
	nb.e[n] = p
	nb.n.Store(n + 1)
	t.blk.Store(nb)
}

// postings returns the published postings.
func (t *term) postings() []posting {
	b := t.blk.Load()
	if b == nil {
		return nil
	}
	return b.e[:b.n.Load()]
}
