package search

import "sync/atomic"

// posting says that document version doc holds the term tf times.
type posting struct {
	doc, tf uint32
}

// term is a dictionary entry: the postings of one token, in increasing doc order (docnums are
// given out in increasing order, and a document version's postings are appended when it is
// born).
//
// Publication: the first posting is kept in the term itself (most tokens, numbers and rare
// words, occur in one document version: they cost no array). From the second on, the writer
// appends in place while its array has room, then copies into an array twice as large, which
// it publishes in arr before it stores the new count in n. A reader loads n, then arr: the
// array it gets holds at least n postings. A reader holding an older array reads a prefix of
// the list; what was appended after its load belongs to document versions born after the
// version it reads at.
type term struct {
	n     atomic.Uint32
	first posting // written before n becomes 1, never after
	arr   atomic.Pointer[[]posting]

	w  []posting // writer only: the array arr points at, full length
	tf uint32    // writer only: occurrences in the document being put
}

// add appends a posting; the writer only.
func (t *term) add(p posting) {
	n := t.n.Load()
	switch {
	case n == 0:
		t.first = p
	case n == 1 && t.w == nil:
		t.w = make([]posting, 4)
		t.w[0], t.w[1] = t.first, p
		w := t.w
		t.arr.Store(&w)
	case int(n) == len(t.w):
		grown := make([]posting, 2*len(t.w))
		copy(grown, t.w)
		grown[n] = p
		t.w = grown
		t.arr.Store(&grown)
	default:
		t.w[n] = p
	}
	t.n.Store(n + 1)
}

// postings returns the published postings; one is where the first is copied when it is the
// only one.
func (t *term) postings(one *[1]posting) []posting {
	switch n := t.n.Load(); n {
	case 0:
		return nil
	case 1:
		one[0] = t.first
		return one[:]
	default:
		return (*t.arr.Load())[:n]
	}
}

// dict is the writer's dictionary, holding the same terms as the readers' map. Tokens of up to
// 16 bytes (most words) are keyed by value, so that finding one compares bytes in the map's
// own memory instead of following a pointer to the key: for a word seen rarely, that pointer
// is a cache miss on every put.
type dict struct {
	short map[[16]byte]*term
	long  map[string]*term
}

func newDict() dict {
	return dict{short: map[[16]byte]*term{}, long: map[string]*term{}}
}

func (d dict) get(tok string) *term {
	if len(tok) <= 16 {
		return d.short[shortKey(tok)]
	}
	return d.long[tok]
}

func (d dict) set(tok string, t *term) {
	if len(tok) <= 16 {
		d.short[shortKey(tok)] = t
	} else {
		d.long[tok] = t
	}
}

// shortKey pads tok with zero bytes, which no token holds.
func shortKey(tok string) (k [16]byte) {
	copy(k[:], tok)
	return k
}
