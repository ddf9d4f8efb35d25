package search

// Fuser combines several rankings of the same documents (from several primitives, or from
// several retrieval methods) into one: the best k, ranked; k ≤ 0 means DefaultK.
type Fuser[D comparable] interface {
	Fuse(k int, rankings ...[]Hit[D]) []Hit[D]
}

// DefaultRRFK is the k constant of reciprocal-rank fusion when RRF.K is not positive.
const DefaultRRFK = 60

// RRF is reciprocal-rank fusion: a document scores Σ 1/(K + rank) over the rankings that hold
// it, rank being its 1-based position in the ranking (the order of a ranking is what counts,
// not its Rank or Score fields; a document listed twice in one ranking counts at its first
// place). Ties go to the smaller document by Compare, or with a nil Compare to the document
// that appeared first (rankings taken in order).
type RRF[D comparable] struct {
	K       float64
	Compare func(a, b D) int
}

// Fuse implements Fuser.
func (f RRF[D]) Fuse(k int, rankings ...[]Hit[D]) []Hit[D] {
	c := f.K
	if c <= 0 {
		c = DefaultRRFK
	}
	pos := map[D]int{} // index in fused
	var fused []ranked[D]
	for _, ranking := range rankings {
		seen := make(map[D]bool, len(ranking))
		for i, h := range ranking {
			if seen[h.Doc] {
				continue
			}
			seen[h.Doc] = true
			p, ok := pos[h.Doc]
			if !ok {
				p = len(fused)
				pos[h.Doc] = p
				fused = append(fused, ranked[D]{doc: h.Doc, ord: uint32(p)})
			}
			fused[p].score += 1 / (c + float64(i+1))
		}
	}
	top := newTopK(k, f.Compare)
	for _, r := range fused {
		top.offer(r)
	}
	return top.hits()
}
