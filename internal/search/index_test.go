package search

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newTestIndex() *Index[ref] { return New(Config[ref]{Compare: compareRef}) }

func search(t testing.TB, x *Index[ref], v uint64, query string, k int) Result[ref] {
	t.Helper()
	res, err := x.Search(context.Background(), v, Request{Query: query, K: k})
	require.NoError(t, err)
	return res
}

func docs(m map[ref]string) iter.Seq2[ref, string] {
	return func(yield func(ref, string) bool) {
		for _, d := range slices.SortedFunc(maps.Keys(m), compareRef) {
			if !yield(d, m[d]) {
				return
			}
		}
	}
}

// sameHits compares hits with the oracle's: same documents in the same order, scores within
// 1e-9.
func sameHits(want, got []Hit[ref]) error {
	if len(want) != len(got) {
		return fmt.Errorf("%d hits, want %d: got %v, want %v", len(got), len(want), got, want)
	}
	for i := range want {
		if want[i].Doc != got[i].Doc || want[i].Rank != got[i].Rank || math.Abs(want[i].Score-got[i].Score) > 1e-9 {
			return fmt.Errorf("hit %d: got %+v, want %+v\n got %v\nwant %v", i, got[i], want[i], got, want)
		}
	}
	return nil
}

func hitDocs(hits []Hit[ref]) []string {
	var out []string
	for _, h := range hits {
		out = append(out, h.Doc.Key)
	}
	return out
}

// A document added at 7, replaced at 9 and deleted at 12 is its first content at 7 and 8, its
// second at 9 to 11, and gone from 12 on; the statistics follow it.
func TestSearchSeesTheVersion(t *testing.T) {
	x := newTestIndex()
	a, b := ref{Key: "a"}, ref{Key: "b"}
	require.NoError(t, x.Put(b, 3, "plain text about nothing"))
	require.NoError(t, x.Put(a, 7, "refund policy"))
	require.NoError(t, x.Put(a, 9, "shipping times and shipping costs"))
	require.NoError(t, x.Delete(a, 12))

	for v := uint64(0); v <= 14; v++ {
		visible := map[ref]string{}
		if v >= 3 {
			visible[b] = "plain text about nothing"
		}
		switch {
		case v >= 12:
		case v >= 9:
			visible[a] = "shipping times and shipping costs"
		case v >= 7:
			visible[a] = "refund policy"
		}
		for _, q := range []string{"refund", "shipping", "text", "refund shipping text"} {
			assert.NoError(t, sameHits(oracle(visible, q, 5), search(t, x, v, q, 5).Hits), "v%d %q", v, q)
		}
	}
	assert.Equal(t, []string{"a"}, hitDocs(search(t, x, 8, "refund", 5).Hits))
	assert.Empty(t, search(t, x, 10, "refund", 5).Hits)
	assert.Equal(t, []string{"a"}, hitDocs(search(t, x, 10, "shipping", 5).Hits))
	assert.Empty(t, search(t, x, 12, "shipping", 5).Hits)
}

func TestWriterRejectsOlderVersions(t *testing.T) {
	x := newTestIndex()
	require.NoError(t, x.Put(ref{Key: "a"}, 5, "x"))
	require.ErrorIs(t, x.Put(ref{Key: "a"}, 4, "y"), ErrVersionOrder)
	require.ErrorIs(t, x.Delete(ref{Key: "a"}, 4), ErrVersionOrder)
	require.NoError(t, x.Put(ref{Key: "a"}, 5, "z"), "the same version again is a later change in it")
	require.NoError(t, x.Delete(ref{Key: "nope"}, 6))
	assert.Equal(t, []string{"a"}, hitDocs(search(t, x, 5, "z", 5).Hits))
	assert.Empty(t, search(t, x, 5, "x", 5).Hits)
	assert.Equal(t, 1, x.Len())
}

// model is the reference: the documents visible at each version.
type model struct {
	mu       sync.Mutex
	versions map[uint64]map[ref]string
}

func (m *model) at(v uint64) map[ref]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.versions[v]
}

func (m *model) set(v uint64, d map[ref]string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.versions[v] = d
}

var vocabulary = []string{"refund", "Shipping", "password", "reset", "order", "late", "café", "東京", "42", "account", "the", "a"}

func randomText(r *rand.Rand) string {
	n := r.IntN(12)
	var b []byte
	for i := range n {
		if i > 0 {
			b = append(b, " ,.!-"[r.IntN(5)])
		}
		b = append(b, vocabulary[r.IntN(len(vocabulary))]...)
	}
	return string(b)
}

func randomQuery(r *rand.Rand) string {
	q := ""
	for range 1 + r.IntN(3) {
		q += vocabulary[r.IntN(len(vocabulary))] + " "
	}
	if r.IntN(5) == 0 {
		q += "unknownword"
	}
	return q
}

// pins is the readers' oldest pinned version, as the engine's clock keeps it: the writer trims
// only below it.
type pins struct {
	mu        sync.Mutex
	published uint64
	pinned    map[int]uint64
}

func (p *pins) pin(reader int) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pinned[reader] = p.published
	return p.published
}

func (p *pins) unpin(reader int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.pinned, reader)
}

func (p *pins) publish(v uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.published = v
}

// oldest returns a trim bound no reader is below: at most the published version and the pins.
func (p *pins) oldest(want uint64) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	want = min(want, p.published)
	for _, v := range p.pinned {
		want = min(want, v)
	}
	return want
}

// Random puts, replacements and deletes over versions, random trims (with rebuilds made
// frequent), and at random versions not below the trim bound, the index's top K and the scan's
// equal the oracle's over the model's documents at that version. Readers run concurrently
// with the writer, at versions the writer published.
func TestModel(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runModel(t, seed) })
	}
}

func runModel(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 1))
	x := newTestIndex()
	x.testMinDead = 3
	m := &model{versions: map[uint64]map[ref]string{0: {}}}
	p := &pins{pinned: map[int]uint64{}}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for reader := range 2 {
		wg.Go(func() { readConcurrently(t, x, m, p, reader, seed, &stop) })
	}
	cur := map[ref]string{}
	trimmed := uint64(0)
	const versions = 400
	for v := uint64(1); v <= versions; v++ {
		cur = maps.Clone(cur)
		for range 1 + r.IntN(3) {
			applyRandom(t, r, x, cur, v)
		}
		m.set(v, cur)
		p.publish(v)
		if r.IntN(4) == 0 {
			trimmed = max(trimmed, p.oldest(trimmed+uint64(r.IntN(20))))
			x.Trim(trimmed)
		}
		for range 3 {
			at := trimmed + uint64(r.Uint64N(v-trimmed+1))
			q, k := randomQuery(r), 1+r.IntN(6)
			want := oracle(m.at(at), q, k)
			require.NoError(t, sameHits(want, search(t, x, at, q, k).Hits), "seed %d v%d at %d %q", seed, v, at, q)
			res, err := Scan(context.Background(), docs(m.at(at)), Request{Query: q, K: k}, Config[ref]{Compare: compareRef})
			require.NoError(t, err)
			require.NoError(t, sameHits(want, res.Hits), "scan: seed %d at %d %q", seed, at, q)
		}
	}
	stop.Store(true)
	wg.Wait()
}

func applyRandom(t *testing.T, r *rand.Rand, x *Index[ref], cur map[ref]string, v uint64) {
	d := ref{Key: fmt.Sprintf("d%02d", r.IntN(30)), Seq: uint64(r.IntN(2))}
	if r.IntN(4) == 0 {
		delete(cur, d)
		require.NoError(t, x.Delete(d, v))
		return
	}
	text := randomText(r)
	cur[d] = text
	require.NoError(t, x.Put(d, v, text))
}

func readConcurrently(t *testing.T, x *Index[ref], m *model, p *pins, reader int, seed uint64, stop *atomic.Bool) {
	r := rand.New(rand.NewPCG(seed, uint64(reader)+100))
	for !stop.Load() {
		v := p.pin(reader)
		q, k := randomQuery(r), 1+r.IntN(6)
		res, err := x.Search(context.Background(), v, Request{Query: q, K: k})
		if err != nil {
			t.Error(err)
		} else if err := sameHits(oracle(m.at(v), q, k), res.Hits); err != nil {
			t.Errorf("reader %d at %d %q: %v", reader, v, q, err)
		}
		p.unpin(reader)
		if t.Failed() {
			return
		}
	}
}

// Trim rebuilds once enough document versions are dead, and what readers see does not change.
func TestTrimRebuilds(t *testing.T) {
	x := newTestIndex()
	x.testMinDead = 10
	for v := uint64(1); v <= 100; v++ {
		require.NoError(t, x.Put(ref{Key: fmt.Sprint(v % 5)}, v, fmt.Sprintf("refund %d shipping", v)))
	}
	before := search(t, x, 100, "refund 98 shipping", 5)
	g := x.gen.Load()
	x.Trim(100)
	assert.NotSame(t, g, x.gen.Load(), "95 of 100 versions dead: rebuilt")
	assert.EqualValues(t, 5, x.gen.Load().docs.len)
	assert.Equal(t, before, search(t, x, 100, "refund 98 shipping", 5))
	assert.Equal(t, []string{"3"}, hitDocs(search(t, x, 100, "98", 5).Hits))
	require.NoError(t, x.Put(ref{Key: "3"}, 101, "replaced"), "the writer's docnums follow the rebuild")
	assert.Empty(t, search(t, x, 101, "98", 5).Hits)
	assert.Equal(t, []string{"3"}, hitDocs(search(t, x, 101, "replaced", 5).Hits))
	assert.Equal(t, []string{"3"}, hitDocs(search(t, x, 100, "98", 5).Hits), "the old version stays for readers at 100")
}

func manyRefunds(n int) map[ref]string {
	m := map[ref]string{}
	for i := range n {
		m[ref{Key: fmt.Sprintf("d%03d", i)}] = fmt.Sprintf("refund request %s", string(rune('a'+i%26)))
	}
	return m
}

// A truncated search scores exactly MaxCandidates documents, the first in enumeration order,
// and answers the same twice.
func TestMaxCandidates(t *testing.T) {
	m := manyRefunds(100)
	x := newTestIndex()
	for d, text := range docs(m) {
		require.NoError(t, x.Put(d, 1, text))
	}
	req := Request{Query: "refund b", K: 3, MaxCandidates: 10}
	first, err := x.Search(context.Background(), 1, req)
	require.NoError(t, err)
	assert.True(t, first.Truncated)
	assert.Equal(t, 10, first.Scored)
	again, err := x.Search(context.Background(), 1, req)
	require.NoError(t, err)
	assert.Equal(t, first, again)
	// Only d001 among the first ten holds "b".
	assert.Equal(t, []string{"d001", "d000", "d002"}, hitDocs(first.Hits))

	scanned, err := Scan(context.Background(), docs(m), req, Config[ref]{Compare: compareRef})
	require.NoError(t, err)
	assert.Equal(t, first, scanned, "the scan enumerates in the order given, here the put order")

	full, err := x.Search(context.Background(), 1, Request{Query: "refund b", K: 3, MaxCandidates: 100})
	require.NoError(t, err)
	assert.False(t, full.Truncated, "exactly enough candidates is not truncated")
	assert.Equal(t, []string{"d001", "d027", "d053"}, hitDocs(full.Hits))
}

func TestDeadline(t *testing.T) {
	m := manyRefunds(10)
	x := newTestIndex()
	for d, text := range docs(m) {
		require.NoError(t, x.Put(d, 1, text))
	}
	req := Request{Query: "refund", Deadline: time.Now().Add(-time.Second)}
	res, err := x.Search(context.Background(), 1, req)
	require.NoError(t, err)
	assert.True(t, res.Truncated)
	assert.Empty(t, res.Hits)
	res, err = Scan(context.Background(), docs(m), req, Config[ref]{})
	require.NoError(t, err)
	assert.True(t, res.Truncated)

	res, err = x.Search(context.Background(), 1, Request{Query: "refund", Deadline: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	assert.False(t, res.Truncated)
	assert.Len(t, res.Hits, 10)
	res, err = x.Search(context.Background(), 1, Request{Query: "refund", MaxTime: time.Hour})
	require.NoError(t, err)
	assert.False(t, res.Truncated)
	assert.Len(t, res.Hits, 10)
	res, err = x.Search(context.Background(), 1, Request{Query: "refund", MaxTime: time.Hour, Deadline: time.Now().Add(-time.Second)})
	require.NoError(t, err)
	assert.True(t, res.Truncated, "the earlier of MaxTime and Deadline counts")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = x.Search(ctx, 1, Request{Query: "refund"})
	assert.ErrorIs(t, err, context.Canceled)
}

// Odd requests neither panic nor allocate what they ask for.
func TestOddRequests(t *testing.T) {
	x := newTestIndex()
	assert.Empty(t, search(t, x, 0, "refund", 5).Hits, "empty index")
	require.NoError(t, x.Put(ref{Key: "a"}, 1, ""))
	assert.Empty(t, search(t, x, 1, "refund", 5).Hits, "only an empty document")
	require.NoError(t, x.Put(ref{Key: "b"}, 2, "refund"))
	assert.Empty(t, search(t, x, 2, "", 5).Hits)
	assert.Empty(t, search(t, x, 2, "?!", 5).Hits)
	assert.Len(t, search(t, x, 2, "refund", math.MaxInt).Hits, 1)
	assert.Len(t, search(t, x, 2, "refund", -3).Hits, 1)
	assert.Len(t, search(t, x, math.MaxUint64, "refund", 0).Hits, 1)
}

// Enough documents for several scoring windows: results still equal the oracle's and the
// scan's, and a truncation inside a later window equals the scan's over the same order.
func TestManyWindows(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	x := newTestIndex()
	live := map[ref]string{}
	var order []ref // put order of the documents' current versions
	n := 3*window + 500
	for i := range n {
		d := ref{Key: fmt.Sprintf("d%06d", i)}
		live[d] = randomText(r)
		order = append(order, d)
		require.NoError(t, x.Put(d, 1, live[d]))
	}
	for i := 0; i < n; i += 3 {
		d := ref{Key: fmt.Sprintf("d%06d", i)}
		delete(live, d)
		require.NoError(t, x.Delete(d, 2))
	}
	inOrder := func(yield func(ref, string) bool) {
		for _, d := range order {
			if text, ok := live[d]; ok && !yield(d, text) {
				return
			}
		}
	}
	for _, q := range []string{"refund", "Shipping password", "東京 42 the", "café a late order"} {
		want := oracle(live, q, 10)
		require.NoError(t, sameHits(want, search(t, x, 2, q, 10).Hits), q)
		for _, limit := range []int{window - 1, 2*window + 3} {
			req := Request{Query: q, K: 10, MaxCandidates: limit}
			got, err := x.Search(context.Background(), 2, req)
			require.NoError(t, err)
			scanned, err := Scan(context.Background(), inOrder, req, Config[ref]{Compare: compareRef})
			require.NoError(t, err)
			assert.Equal(t, scanned, got, "%q, %d candidates", q, limit)
		}
	}
}
