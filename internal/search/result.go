package search

import (
	"context"
	"math"
	"slices"
	"time"
)

// DefaultK is the number of hits a Request with K ≤ 0 gets.
const DefaultK = 10

// Request is one search.
type Request struct {
	Query string // tokenized like the documents; repeated terms count once
	K     int    // hits wanted; ≤ 0 means DefaultK
	// MaxCandidates bounds the documents scored (≤ 0: no bound). Candidates are enumerated in
	// a fixed order (the index's docnum order, the scan's input order), so a truncated search
	// returns the best of the same first MaxCandidates documents every time.
	MaxCandidates int
	// Deadline, when not zero, stops the search at the first check after it (checks are
	// periodic); what was found by then is returned, with Truncated set.
	Deadline time.Time
	// MaxTime, when positive, sets a deadline MaxTime after the search starts (the earlier of
	// it and Deadline counts).
	MaxTime time.Duration
}

// Hit is one result: Rank is 1-based.
type Hit[D comparable] struct {
	Doc   D
	Score float64
	Rank  int
}

// Result is a search's answer: the best K hits, best first, ties in score broken by the
// documents' order.
type Result[D comparable] struct {
	Hits      []Hit[D]
	Scored    int  // documents scored
	Truncated bool // MaxCandidates or Deadline stopped the search before every candidate was scored
}

// checkEvery is how many loop steps pass between looks at the clock and the context.
const checkEvery = 1024

// budget is a request's limits while it runs.
type budget struct {
	ctx           context.Context
	deadline      time.Time
	maxCandidates int
	truncated     bool
}

func newBudget(ctx context.Context, req Request) *budget {
	deadline := req.Deadline
	if req.MaxTime > 0 {
		if d := time.Now().Add(req.MaxTime); deadline.IsZero() || d.Before(deadline) {
			deadline = d
		}
	}
	return &budget{ctx: ctx, deadline: deadline, maxCandidates: req.MaxCandidates}
}

// check is called every step: every checkEvery steps (the first included) it returns false,
// with truncated set or the context's error, once the deadline is past or the context done.
func (b *budget) check(step int) (bool, error) {
	if step%checkEvery != 0 {
		return true, nil
	}
	if err := b.ctx.Err(); err != nil {
		return false, err
	}
	if !b.deadline.IsZero() && !time.Now().Before(b.deadline) {
		b.truncated = true
		return false, nil
	}
	return true, nil
}

// full reports whether scored candidates have used up MaxCandidates.
func (b *budget) full(scored int) bool {
	return b.maxCandidates > 0 && scored >= b.maxCandidates
}

// ranked is a candidate in a top-K: ord is its position in the enumeration order, the last
// tie-break.
type ranked[D comparable] struct {
	score float64
	ord   uint32
	doc   D
}

// topK keeps the k best candidates in a heap whose root is the worst of them.
type topK[D comparable] struct {
	k       int
	h       []ranked[D]
	compare func(a, b D) int
}

func newTopK[D comparable](k int, compare func(a, b D) int) *topK[D] {
	if k <= 0 {
		k = DefaultK
	}
	return &topK[D]{k: k, h: make([]ranked[D], 0, min(k, 64)), compare: compare}
}

// better is the result order: higher score, then smaller document, then earlier.
func (t *topK[D]) better(a, b *ranked[D]) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	if t.compare != nil {
		if c := t.compare(a.doc, b.doc); c != 0 {
			return c < 0
		}
	}
	return a.ord < b.ord
}

// wants reports whether a candidate with score could enter: it may still lose a tie. A NaN
// is offered, for offer to rank it last, as the index's search does.
func (t *topK[D]) wants(score float64) bool {
	return !(score < t.threshold())
}

// threshold is the score a candidate needs to enter: while the top K is not full, any.
func (t *topK[D]) threshold() float64 {
	if len(t.h) < t.k {
		return math.Inf(-1)
	}
	return t.h[0].score
}

// offer adds a candidate if it beats the worst kept. A NaN score ranks below every number.
func (t *topK[D]) offer(c ranked[D]) {
	if math.IsNaN(c.score) {
		c.score = math.Inf(-1)
	}
	if len(t.h) < t.k {
		t.h = append(t.h, c)
		t.up(len(t.h) - 1)
		return
	}
	if !t.better(&c, &t.h[0]) {
		return
	}
	t.h[0] = c
	t.down(0)
}

func (t *topK[D]) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !t.better(&t.h[p], &t.h[i]) {
			return
		}
		t.h[p], t.h[i] = t.h[i], t.h[p]
		i = p
	}
}

func (t *topK[D]) down(i int) {
	for {
		w := i
		for _, c := range [2]int{2*i + 1, 2*i + 2} {
			if c < len(t.h) && t.better(&t.h[w], &t.h[c]) {
				w = c
			}
		}
		if w == i {
			return
		}
		t.h[i], t.h[w] = t.h[w], t.h[i]
		i = w
	}
}

// hits returns the kept candidates, best first, ranked.
func (t *topK[D]) hits() []Hit[D] {
	slices.SortFunc(t.h, func(a, b ranked[D]) int {
		if t.better(&a, &b) {
			return -1
		}
		return 1
	})
	out := make([]Hit[D], len(t.h))
	for i, c := range t.h {
		out[i] = Hit[D]{Doc: c.doc, Score: c.score, Rank: i + 1}
	}
	return out
}
