package search

import "github.com/puzpuzpuz/xsync/v3"

// defaultMinDead is how many dead document versions a generation holds at least before Trim
// rebuilds it: a small index is not rebuilt every few updates.
const defaultMinDead = 1024

// Trim lets the index forget what no reader at a version ≥ oldest can see. Document versions
// that died at or before oldest are counted as dead; once they are at least half of the
// generation (and at least a thousand), Trim rebuilds it without them, renumbering the others
// in their order, and publishes the new generation. Rebuilding costs time proportional to what
// stays, so each put pays for it a bounded number of times.
func (x *Index[D]) Trim(oldest uint64) {
	if oldest <= x.w.oldest {
		return
	}
	x.w.oldest = oldest
	n := 0
	for n < len(x.w.deaths) && x.w.deaths[n].version <= oldest {
		n++
	}
	x.w.deaths = x.w.deaths[n:]
	x.w.dead += uint32(n)
	g := x.gen.Load()
	if x.w.dead >= x.minDead() && 2*uint64(x.w.dead) >= uint64(g.docs.len) {
		x.rebuild(oldest)
	}
}

func (x *Index[D]) minDead() uint32 {
	if x.testMinDead > 0 {
		return x.testMinDead
	}
	return defaultMinDead
}

// rebuild publishes a generation holding only the document versions some reader at a version
// ≥ oldest can see, and returns it.
func (x *Index[D]) rebuild(oldest uint64) *generation[D] {
	old := x.gen.Load()
	size := old.terms.Size()
	ng := &generation[D]{terms: xsync.NewMapOfPresized[string, *term](size)}
	remap := copyDocs(old, ng, oldest)
	x.w.dict = dict{short: make(map[[16]byte]*term, size), long: map[string]*term{}}
	old.terms.Range(func(tok string, t *term) bool {
		if nt := remapTerm(t, remap); nt != nil {
			ng.terms.Store(tok, nt)
			x.w.dict.set(tok, nt)
		}
		return true
	})
	copyStats(old, ng, oldest)
	for doc, n := range x.w.live {
		x.w.live[doc] = remap[n] - 1
	}
	for i := range x.w.deaths {
		x.w.deaths[i].doc = remap[x.w.deaths[i].doc] - 1
	}
	x.w.dead = 0
	x.gen.Store(ng)
	return ng
}

// copyDocs copies into ng the document versions of old that did not die at or before oldest,
// and returns the map from old docnum to new docnum + 1 (0: dropped).
func copyDocs[D comparable](old, ng *generation[D], oldest uint64) []uint32 {
	remap := make([]uint32, old.docs.len)
	for i := range old.docs.len {
		d := old.docs.at(i)
		died := d.died.Load()
		if died <= oldest {
			continue
		}
		nd := ng.docs.next()
		nd.born, nd.length = d.born, d.length
		nd.died.Store(died)
		*ng.ids.next() = *old.ids.at(i)
		ng.ids.commit()
		ng.docs.commit()
		remap[i] = ng.docs.len
	}
	return remap
}

// remapTerm returns t's postings of kept document versions, renumbered, or nil if none is
// kept. Renumbering keeps the order, so the postings stay sorted.
func remapTerm(t *term, remap []uint32) *term {
	var one [1]posting
	ps := t.postings(&one)
	n := 0
	for _, p := range ps {
		if remap[p.doc] != 0 {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	kept := make([]posting, 0, n+n/4) // room for the appends to come before the next copy
	for _, p := range ps {
		if r := remap[p.doc]; r != 0 {
			kept = append(kept, posting{doc: r - 1, tf: p.tf})
		}
	}
	nt := &term{first: kept[0]}
	if n > 1 {
		w := kept[:cap(kept)]
		nt.w = w
		nt.arr.Store(&w) // not &nt.w, which the writer overwrites when it grows the array
	}
	nt.n.Store(uint32(n))
	return nt
}

// copyStats copies the statistics entries a reader at a version ≥ oldest may look up: the last
// one at or before oldest and all later ones.
func copyStats[D comparable](old, ng *generation[D], oldest uint64) {
	first := uint32(0)
	for i := range old.stats.len {
		if old.stats.at(i).version <= oldest {
			first = i
		}
	}
	for i := first; i < old.stats.len; i++ {
		*ng.stats.next() = *old.stats.at(i)
		ng.stats.commit()
	}
}
