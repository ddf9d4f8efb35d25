package search

import (
	"errors"
	"math"
	"strings"
	"sync/atomic"

	"github.com/puzpuzpuz/xsync/v3"
)

// Config is what an index, a scan and a fusion are configured with.
type Config[D comparable] struct {
	// Compare is the total order on documents that breaks ties in score (the smaller first).
	// Nil: the index breaks ties by the order in which the documents' current versions were put,
	// a scan by the order it was given the documents in.
	Compare func(a, b D) int
	// Scorer scores the query terms; nil means DefaultBM25.
	Scorer Scorer
}

func (c Config[D]) scorer() Scorer {
	if c.Scorer == nil {
		return DefaultBM25
	}
	return c.Scorer
}

// ErrVersionOrder is returned by Put and Delete for a version older than one already applied.
var ErrVersionOrder = errors.New("search: version older than one already applied")

// ErrFull is returned by Put when the index holds as many document versions as it can number.
var ErrFull = errors.New("search: too many document versions")

// alive is the died version of a document version that has not died.
const alive = math.MaxUint64

// maxDocnum bounds the docnums (uint32) given out before a rebuild renumbers them.
const maxDocnum = math.MaxUint32 - 1

// Index is an inverted index over the documents of one (run, primitive), written by one
// goroutine (Put, Delete, Trim) and searched by any number at once, each at its own version.
type Index[D comparable] struct {
	cfg Config[D]
	gen atomic.Pointer[generation[D]]
	w   writer[D]

	testMinDead uint32 // tests make rebuilds frequent with it
}

// generation is everything readers look at. Trim replaces it whole when it renumbers the
// document versions; a reader keeps the one it loaded for the whole search.
type generation[D comparable] struct {
	terms *xsync.MapOf[string, *term]
	docs  table[docInfo] // by docnum
	ids   table[D]       // by docnum
	stats table[statEntry]
}

// docInfo is one document version: visible to a reader at v when born ≤ v < died.
type docInfo struct {
	born   uint64
	died   atomic.Uint64 // alive until the version that replaced or deleted it
	length uint32        // in tokens
}

// visibleAt reports whether a reader at version sees the document version.
func (d *docInfo) visibleAt(version uint64) bool {
	died := d.died.Load()
	return d.born <= version && (version < died || died == alive)
}

// statEntry is the collection after the last change at version: the documents visible and the
// sum of their lengths.
type statEntry struct {
	version uint64
	docs    uint64
	sumLen  uint64
}

// writer is the state only the writer touches.
type writer[D comparable] struct {
	live    map[D]uint32 // each visible document's current docnum
	dict    dict         // the generation's terms, for the writer
	version uint64       // the newest version applied
	oldest  uint64       // the newest Trim bound
	docs    uint64       // visible at version
	sumLen  uint64
	deaths  []death // document versions that died, not yet trimmed, oldest death first
	dead    uint32  // document versions in the generation no reader can see any more
	tok     tokenizer
	found   []*term // the terms of the document being put, in text order
	touched []*term // its distinct terms
}

type death struct {
	version uint64
	doc     uint32
}

// New returns an empty index.
func New[D comparable](cfg Config[D]) *Index[D] {
	x := &Index[D]{cfg: cfg, w: writer[D]{live: map[D]uint32{}, dict: newDict()}}
	x.gen.Store(newGeneration[D]())
	return x
}

func newGeneration[D comparable]() *generation[D] {
	return &generation[D]{terms: xsync.NewMapOf[string, *term]()}
}

// Len is the number of documents visible at the newest version applied. The writer only.
func (x *Index[D]) Len() int { return len(x.w.live) }

// Put makes text the content of doc from version on, replacing its previous content. Versions
// never decrease from one call to the next; several changes may share a version, and a reader
// at that version sees the last of them.
func (x *Index[D]) Put(doc D, version uint64, text string) error {
	g, err := x.writable(version)
	if err != nil {
		return err
	}
	length := x.countTerms(g, text)
	docnum := g.appendDoc(doc, version, length)
	for _, t := range x.w.touched {
		t.add(posting{doc: docnum, tf: t.tf})
		t.tf = 0
	}
	x.w.touched = x.w.touched[:0]
	if old, ok := x.w.live[doc]; ok {
		x.kill(g, old, version)
	} else {
		x.w.docs++
	}
	x.w.live[doc] = docnum
	x.w.sumLen += uint64(length)
	x.logStats(g, version)
	return nil
}

// writable checks that version does not go back and returns the generation to write, with
// room for one more docnum.
func (x *Index[D]) writable(version uint64) (*generation[D], error) {
	if err := x.advance(version); err != nil {
		return nil, err
	}
	g := x.gen.Load()
	if g.docs.len < maxDocnum {
		return g, nil
	}
	if g = x.rebuild(x.w.oldest); g.docs.len >= maxDocnum {
		return nil, ErrFull
	}
	return g, nil
}

// appendDoc publishes a document version and returns its docnum. Its postings follow: a
// reader that finds them finds the version in the table.
func (g *generation[D]) appendDoc(doc D, version uint64, length uint32) uint32 {
	docnum := g.docs.len
	*g.ids.next() = doc
	g.ids.commit()
	d := g.docs.next()
	d.born, d.length = version, length
	d.died.Store(alive)
	g.docs.commit()
	return docnum
}

// countTerms tokenizes text into the dictionary, leaving each term's tf in the document on the
// term and the distinct terms in touched; it returns the document's length in tokens.
//
// Looking a term up, counting it and appending its posting each touch memory that, for all
// but the frequent terms, is not in the cache. Doing them in separate passes over the
// document's terms leaves each pass's iterations independent, so the processor overlaps their
// cache misses instead of waiting for each in turn.
func (x *Index[D]) countTerms(g *generation[D], text string) uint32 {
	found := x.w.found[:0]
	for tok := range x.w.tok.each(text) {
		t := x.w.dict.get(tok)
		if t == nil {
			t = &term{}
			tok = strings.Clone(tok)
			x.w.dict.set(tok, t)
			g.terms.Store(tok, t)
		}
		found = append(found, t)
	}
	for _, t := range found {
		if t.tf == 0 {
			x.w.touched = append(x.w.touched, t)
		}
		t.tf++
	}
	clear(found) // the terms may be dropped by a rebuild: do not keep them alive
	x.w.found = found[:0]
	return uint32(len(found))
}

// Delete removes doc from version on; deleting a document the index does not hold does
// nothing.
func (x *Index[D]) Delete(doc D, version uint64) error {
	if err := x.advance(version); err != nil {
		return err
	}
	old, ok := x.w.live[doc]
	if !ok {
		return nil
	}
	g := x.gen.Load()
	x.kill(g, old, version)
	delete(x.w.live, doc)
	x.w.docs--
	x.logStats(g, version)
	return nil
}

func (x *Index[D]) advance(version uint64) error {
	if version < x.w.version {
		return ErrVersionOrder
	}
	x.w.version = version
	return nil
}

// kill ends document version docnum at version.
func (x *Index[D]) kill(g *generation[D], docnum uint32, version uint64) {
	d := g.docs.at(docnum)
	d.died.Store(version)
	x.w.sumLen -= uint64(d.length)
	x.w.deaths = append(x.w.deaths, death{version: version, doc: docnum})
}

// logStats records the collection statistics after a change at version. Changes sharing a
// version share an entry: its counts are rewritten in place, which no reader looks at before
// the version is published, by which time the writer has moved on.
func (x *Index[D]) logStats(g *generation[D], version uint64) {
	if g.stats.len > 0 {
		if last := g.stats.at(g.stats.len - 1); last.version == version {
			last.docs, last.sumLen = x.w.docs, x.w.sumLen
			return
		}
	}
	*g.stats.next() = statEntry{version: version, docs: x.w.docs, sumLen: x.w.sumLen}
	g.stats.commit()
}

// statsAt returns the collection statistics a reader at version sees.
func (g *generation[D]) statsAt(version uint64) (docs, sumLen uint64) {
	v := g.stats.view()
	lo, hi := uint32(0), v.n // the first entry newer than version is in [lo, hi]
	for lo < hi {
		mid := lo + (hi-lo)/2
		if v.at(mid).version <= version {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return 0, 0
	}
	e := v.at(lo - 1)
	return e.docs, e.sumLen
}
