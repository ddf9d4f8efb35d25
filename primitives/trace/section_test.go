package trace

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"github.com/inmemdb/inmem/internal/mvcc"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/extension/extensiontest"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// multi is a trace store of n shards, with the bookkeeping of the spans recorded in it.
type multi struct {
	s    *Store
	runs []extension.RunID
	ids  map[extension.RunID][]string // every id recorded, in record order
	tags map[string]bool
}

func newMulti(n int) *multi {
	m := &multi{s: New(n), ids: map[extension.RunID][]string{}, tags: map[string]bool{}}
	for i := range n {
		m.s.NewShard(i)
	}
	return m
}

func (m *multi) shardOf(r extension.RunID) *shard { return m.s.shards[r.Shard(len(m.s.shards))] }

// record commits spans of run r at version as the sequencer and the actor would.
func (m *multi) record(t testing.TB, r extension.RunID, version uint64, spans ...Span) {
	t.Helper()
	tx := m.s.NewTx(r, version-1)
	for _, sp := range spans {
		_, err := tx.Record(sp)
		require.NoError(t, err)
	}
	c := &commit{RunID: r, Snap: version - 1, Ver: version}
	require.NoError(t, tx.Validate(c))
	es := tx.Entries(nil, c)
	for i := range es {
		es[i].TxID = version
	}
	require.NoError(t, m.shardOf(r).Apply(es))
	if _, ok := m.ids[r]; !ok {
		m.runs = append(m.runs, r)
	}
	for _, sp := range spans {
		m.ids[r] = append(m.ids[r], sp.ID)
		for _, tag := range sp.Tags {
			m.tags[tag] = true
		}
	}
}

var allKinds = []string{KindToolCall, KindDecision, KindQuery, KindThought, KindError, KindCustom}

// randomCommits records commits first..last over runs, at random: spans out of start order,
// children of earlier spans (of earlier commits or of the same one), tags, attributes.
func (m *multi) randomCommits(t testing.TB, rng *rand.Rand, runs []extension.RunID, first, last uint64, tagPool []string) {
	t.Helper()
	for v := first; v <= last; v++ {
		r := runs[rng.IntN(len(runs))]
		known := append([]string(nil), m.ids[r]...)
		var spans []Span
		for i := range 1 + rng.IntN(3) {
			s := Span{ID: fmt.Sprintf("%d-%d", v, i), Kind: allKinds[rng.IntN(len(allKinds))],
				Name: fmt.Sprintf("step %d", v), Start: int64(rng.IntN(50))}
			if len(known) > 0 && rng.IntN(4) != 0 {
				s.ParentID = known[rng.IntN(len(known))]
			}
			if rng.IntN(2) == 0 {
				s.End = s.Start + int64(rng.IntN(10))
			}
			for _, tag := range tagPool {
				if rng.IntN(3) == 0 {
					s.Tags = append(s.Tags, tag)
				}
			}
			if rng.IntN(2) == 0 {
				s.Attributes = fmt.Appendf(nil, `{"v":%d,"s":"ü"}`, v)
			}
			spans = append(spans, s)
			known = append(known, s.ID)
		}
		m.record(t, r, v, spans...)
	}
}

// answers is every query of every run at snapshot v, over the ids, kinds and tags of ref (so
// that spans absent from s are asked for too).
func answers(s *Store, ref *multi, v uint64) map[string]any {
	out := map[string]any{}
	for _, r := range ref.runs {
		p := r.String() + " "
		out[p+"list"], out[p+"count"], out[p+"roots"] = s.List(r, v), s.Count(r, v), s.Roots(r, v)
		for _, id := range append(ref.ids[r], "missing") {
			g, ok := s.Get(r, id, v)
			tr, trOK := s.Tree(r, id, v)
			ch, chOK := s.Children(r, id, v)
			out[p+"get "+id] = []any{g, ok}
			out[p+"tree "+id] = []any{tr, trOK}
			out[p+"children "+id] = []any{ch, chOK}
		}
		for _, k := range allKinds {
			out[p+"kind "+k] = s.ByKind(r, k, v)
		}
		for tag := range ref.tags {
			out[p+"tag "+tag] = s.ByTag(r, tag, v)
		}
		out[p+"tag none"] = s.ByTag(r, "none", v)
		for _, w := range [][2]int64{{0, 100}, {10, 20}, {-5, 3}, {25, 26}, {49, 1 << 62}} {
			out[p+fmt.Sprint("time ", w)] = s.InTime(r, w[0], w[1], v)
		}
	}
	return out
}

// section writes the frozen views into one section.
func section(t testing.TB, views []extension.FrozenView) []byte {
	t.Helper()
	sec, err := extensiontest.Section(views...)
	require.NoError(t, err)
	return sec
}

func freezeAll(s *Store, v uint64) []extension.FrozenView { return extensiontest.Freeze(s.shards, v) }

// load loads every chunk of sec into a fresh store of n shards, routing each by its run.
func load(t testing.TB, sec []byte, n int) *Store {
	t.Helper()
	fresh := newMulti(n)
	require.NoError(t, extensiontest.LoadSection(sec, fresh.s.shards))
	return fresh.s
}

func sectionRuns(n int) []extension.RunID {
	var runs []extension.RunID
	for i := range n {
		runs = append(runs, extension.RunID{0x70, byte(i)})
	}
	return runs
}

// buildRandom records 1..mid over runs, freezes every shard at mid, then records mid+1..last
// (more spans of those runs, children of spans of before mid, and a run begun after mid).
func buildRandom(t testing.TB, seed, mid, last uint64) (*multi, []extension.FrozenView) {
	rng := rand.New(rand.NewPCG(seed, 1))
	runs := sectionRuns(5)
	m := newMulti(2)
	m.randomCommits(t, rng, runs[:4], 1, mid, []string{"io", "plan", "llm"})
	views := freezeAll(m.s, mid)
	m.randomCommits(t, rng, runs, mid+1, last, []string{"io", "late"})
	return m, views
}

func TestSectionRoundTrip(t *testing.T) {
	const mid, last = 40, 70
	m, views := buildRandom(t, 1, mid, last)
	shards := map[int]bool{}
	for _, r := range m.runs {
		shards[r.Shard(2)*10+r.Shard(3)] = true
	}
	require.Greater(t, len(shards), 2, "runs spread differently over 2 and 3 shards")
	require.Greater(t, m.s.Count(m.runs[0], last), m.s.Count(m.runs[0], mid), "commits after the freeze")

	sec := section(t, views)
	chunks := 0
	require.NoError(t, extension.SplitChunks(sec, func(c *extension.Chunk) error {
		chunks++
		assert.NotZero(t, m.s.Count(c.Run, mid), "a chunk per run with spans at the version")
		return nil
	}))
	assert.Equal(t, 4, chunks, "the run begun after the freeze has no chunk")

	fresh := load(t, sec, 3)
	for v := uint64(0); v <= mid; v++ {
		require.Equal(t, answers(m.s, m, v), answers(fresh, m, v), "at %d", v)
	}
	assert.Equal(t, answers(m.s, m, mid), answers(fresh, m, last), "nothing of the later commits")
	assert.Equal(t, answers(m.s, m, mid), answers(fresh, m, ^uint64(0)))
	assert.NotEqual(t, answers(m.s, m, mid), answers(m.s, m, last), "the later commits are visible in the original")

	// A view frozen after the later commits were applied writes the same state at its version.
	for _, v := range []uint64{0, 1, mid - 7, last} {
		sec := section(t, freezeAll(m.s, v))
		assert.Equal(t, answers(m.s, m, v), answers(load(t, sec, 3), m, ^uint64(0)), "frozen at %d", v)
		if v == 0 {
			assert.Empty(t, sec)
		}
	}
}

// After loading, new spans (children of loaded spans) enter every index; ids and parents are
// validated against the loaded spans.
func TestSectionThenApply(t *testing.T) {
	m := newMulti(2)
	r := sectionRuns(1)[0]
	m.record(t, r, 1, sp("r1", "", 10), sp("a", "r1", 30))
	m.record(t, r, 2, Span{ID: "b", ParentID: "r1", Kind: KindToolCall, Name: "n", Start: 20, Tags: []string{"io"}})
	m.record(t, r, 3, sp("later", "", 1))
	sec := section(t, freezeAll(m.s, 2))

	fm := newMulti(3)
	require.NoError(t, extensiontest.LoadSection(sec, fm.s.shards))
	f := fm.s
	_, ok := f.Get(r, "later", 3)
	assert.False(t, ok)

	// The parent "later" was not loaded; "a" was; "b" is taken.
	tx := f.NewTx(r, 2)
	_, err := tx.Record(sp("x", "later", 5))
	require.NoError(t, err)
	assert.ErrorIs(t, tx.Validate(&commit{RunID: r, Snap: 2, Ver: 3}), dberr.ErrNotFound)
	tx = f.NewTx(r, 2)
	_, err = tx.Record(sp("b", "", 5))
	require.NoError(t, err)
	assert.ErrorIs(t, tx.Validate(&commit{RunID: r, Snap: 2, Ver: 3}), dberr.ErrAlreadyExists)

	fm.record(t, r, 3, Span{ID: "c", ParentID: "a", Kind: KindError, Name: "n", Start: 15, Tags: []string{"io", "new"}})
	kids, ok := f.Children(r, "a", 3)
	require.True(t, ok)
	assert.Equal(t, []string{"c"}, ids(kids))
	tree, _ := f.Tree(r, "r1", 3)
	assert.Equal(t, []string{"r1", "b", "a", "c"}, ids(tree))
	assert.Equal(t, []string{"r1", "c", "b", "a"}, ids(f.List(r, 3)), "sorted in by start")
	assert.Equal(t, []string{"r1", "b", "a"}, ids(f.List(r, 2)))
	assert.Equal(t, []string{"c"}, ids(f.ByKind(r, KindError, 3)))
	assert.Equal(t, []string{"c", "b"}, ids(f.ByTag(r, "io", 3)))
	assert.Equal(t, []string{"c"}, ids(f.ByTag(r, "new", 3)))
	assert.Equal(t, []string{"r1", "c"}, ids(f.InTime(r, 0, 20, 3)))
	assert.Equal(t, 4, f.Count(r, 3))
	assert.Equal(t, 3, f.Count(r, 2))
	assert.Equal(t, 2, f.Count(r, 1))
}

// The minimal span's encoding has exactly minSpanBytes: the count bound rejects no real body.
func TestSectionMinSpanBytes(t *testing.T) {
	b := binary.AppendUvarint(nil, 1)
	rec := appendSpan(nil, &Span{ID: "a", Kind: KindThought, Name: "n"})
	b = append(binary.AppendUvarint(b, uint64(len(rec))), rec...)
	assert.Len(t, b, minSpanBytes)
}

type sectionSpan struct {
	commit uint64
	span   Span
}

func body(spans ...sectionSpan) []byte {
	b := binary.AppendUvarint([]byte{sectionFormat}, uint64(len(spans)))
	for _, s := range spans {
		rec := appendSpan(nil, &s.span)
		b = binary.AppendUvarint(b, s.commit)
		b = append(binary.AppendUvarint(b, uint64(len(rec))), rec...)
	}
	return b
}

func TestSectionMalformed(t *testing.T) {
	r := sectionRuns(1)[0]
	good := body(sectionSpan{1, sp("a", "", 1)}, sectionSpan{2, sp("b", "a", 2)})
	setCount := func(n uint64) []byte {
		return append(binary.AppendUvarint([]byte{sectionFormat}, n), good[2:]...)
	}
	cases := map[string][]byte{
		"empty":              {},
		"format 0":           append([]byte{0}, good[1:]...),
		"format 2":           append([]byte{2}, good[1:]...),
		"no count":           {sectionFormat},
		"count too high":     setCount(3),
		"count too low":      setCount(1),
		"count 1<<62":        setCount(1 << 62),
		"trailing byte":      append(bytes.Clone(good), 0),
		"commit 0":           body(sectionSpan{0, sp("a", "", 1)}),
		"commit goes back":   body(sectionSpan{2, sp("a", "", 1)}, sectionSpan{1, sp("b", "", 1)}),
		"duplicate id":       body(sectionSpan{1, sp("a", "", 1)}, sectionSpan{1, sp("a", "", 2)}),
		"missing parent":     body(sectionSpan{1, sp("b", "a", 1)}),
		"parent after":       body(sectionSpan{1, sp("b", "a", 1)}, sectionSpan{1, sp("a", "", 1)}),
		"own parent":         body(sectionSpan{1, sp("a", "a", 1)}),
		"empty id":           body(sectionSpan{1, sp("", "", 1)}),
		"unknown kind":       body(sectionSpan{1, Span{ID: "a", Kind: "dream", Name: "n"}}),
		"empty name":         body(sectionSpan{1, Span{ID: "a", Kind: KindThought}}),
		"end before start":   body(sectionSpan{1, Span{ID: "a", Kind: KindThought, Name: "n", Start: 5, End: 4}}),
		"repeated tag":       body(sectionSpan{1, Span{ID: "a", Kind: KindThought, Name: "n", Tags: []string{"t", "t"}}}),
		"empty tag":          body(sectionSpan{1, Span{ID: "a", Kind: KindThought, Name: "n", Tags: []string{""}}}),
		"huge record length": append(binary.AppendUvarint([]byte{sectionFormat, 1, 1}, 1<<62), make([]byte, 16)...),
		"huge tag count": func() []byte {
			rec := appendSpan(nil, &Span{ID: "a", Kind: KindThought, Name: "n"})
			rec = append(rec[:len(rec)-1], binary.AppendUvarint(nil, 1<<40)...)
			b := binary.AppendUvarint([]byte{sectionFormat, 1, 1}, uint64(len(rec)))
			return append(b, rec...)
		}(),
	}
	other := extension.RunID{0x71}
	for name, b := range cases {
		m := newMulti(1)
		m.record(t, other, 1, sp("o", "", 1))
		before := answers(m.s, m, ^uint64(0))
		var err error
		require.NotPanics(t, func() { err = m.s.shards[0].LoadSection(extension.NewChunk(r, b)) }, name)
		assert.ErrorIs(t, err, dberr.ErrCorruption, name)
		assert.Nil(t, m.s.shards[0].runs.At(r, mvcc.Latest), "%s: the run is not loaded", name)
		assert.Equal(t, before, answers(m.s, m, ^uint64(0)), name)
	}

	// The good body loads, once.
	m := newMulti(1)
	sh := m.s.shards[0]
	require.NoError(t, sh.LoadSection(extension.NewChunk(r, good)))
	assert.Equal(t, []string{"a", "b"}, ids(m.s.List(r, 2)))
	err := sh.LoadSection(extension.NewChunk(r, body(sectionSpan{3, sp("c", "", 1)})))
	assert.ErrorIs(t, err, dberr.ErrCorruption, "a run loaded twice")
	assert.Equal(t, []string{"a", "b"}, ids(m.s.List(r, 3)))
	// An empty run is nothing to load.
	require.NoError(t, sh.LoadSection(extension.NewChunk(other, []byte{sectionFormat, 0})))
	assert.Nil(t, sh.runs.At(other, mvcc.Latest))
}

// Every truncation of every chunk fails, through either reader, and changes nothing; byte flips
// never panic, and a flip that fails changes nothing.
func TestSectionDamage(t *testing.T) {
	const mid, last = 12, 16
	m, views := buildRandom(t, 2, mid, last)
	sec := section(t, views)
	chunks, err := extensiontest.Chunks(sec)
	require.NoError(t, err)
	require.NotEmpty(t, chunks)
	for i, c := range chunks {
		// A store holding every other chunk.
		others := slices.Delete(slices.Clone(chunks), i, i+1)
		base := func() *multi {
			f := newMulti(3)
			require.NoError(t, extensiontest.LoadChunks(others, f.s.shards))
			return f
		}
		f := base()
		sh := f.shardOf(c.Run)
		want := answers(f.s, m, ^uint64(0))
		unchanged := func(what string, err error) {
			t.Helper()
			require.ErrorIs(t, err, dberr.ErrCorruption, what)
			require.Nil(t, sh.runs.At(c.Run, mvcc.Latest), what)
		}
		for d := range extensiontest.BodyCuts(c) {
			var err error
			require.NotPanics(t, func() { err = sh.LoadSection(d.Chunk) })
			unchanged(d.What, err)
		}
		for d := range extensiontest.ChunkCuts(c) {
			unchanged(d.What, sh.LoadSection(d.Chunk))
		}
		require.Equal(t, want, answers(f.s, m, ^uint64(0)))

		failed := 0
		for d := range extensiontest.Flips(c) {
			var err error
			require.NotPanics(t, func() { err = sh.LoadSection(d.Chunk) })
			if err == nil {
				f = base() // the flip decoded into other spans: start again
				sh = f.shardOf(c.Run)
				continue
			}
			failed++
			unchanged(d.What, err)
		}
		assert.Equal(t, want, answers(f.s, m, ^uint64(0)))
		assert.Greater(t, failed, len(c.Body)/2, "flips are caught (many decode: names and JSON are free text)")

		// The intact chunk, through a plain reader, loads the same as the original.
		require.NoError(t, sh.LoadSection(bytes.NewReader(extensiontest.Encode(c))))
	}
	assert.Equal(t, answers(m.s, m, mid), answers(load(t, sec, 3), m, ^uint64(0)))
}

// WriteSection runs while the actor applies newer commits (spans out of start order, so lists
// are both appended in place and copied): it writes exactly the state at its version. Run with
// -race.
func TestSectionWhileApplying(t *testing.T) {
	m := newMulti(2)
	runs := sectionRuns(3)
	rng := rand.New(rand.NewPCG(3, 3))
	m.randomCommits(t, rng, runs, 1, 50, []string{"t"})
	wait := extensiontest.WriteConcurrently(1, freezeAll(m.s, 50)...)
	m.randomCommits(t, rng, runs, 51, 400, []string{"t", "u"})
	secs, err := wait()
	require.NoError(t, err)
	require.Len(t, secs, 1)
	assert.Equal(t, answers(m.s, m, 50), answers(load(t, secs[0], 3), m, ^uint64(0)))
}

func FuzzLoadSection(f *testing.F) {
	_, views := buildRandom(f, 4, 8, 10)
	chunks, err := extensiontest.Chunks(section(f, views))
	require.NoError(f, err)
	for _, c := range chunks {
		f.Add(c.Body)
	}
	f.Add(body(sectionSpan{1, sp("a", "", 1)}, sectionSpan{1, sp("b", "a", 1)}))
	f.Add([]byte{sectionFormat, 0})
	r := sectionRuns(1)[0]
	f.Fuzz(func(t *testing.T, b []byte) {
		s := New(1)
		sh := s.NewShard(0).(*shard)
		if err := sh.LoadSection(extension.NewChunk(r, b)); err != nil {
			require.ErrorIs(t, err, dberr.ErrCorruption)
			require.Nil(t, sh.runs.At(r, mvcc.Latest), "a failed load changes nothing")
			return
		}
		// Whatever loaded answers queries, and writes a section that loads to the same state.
		ref := &multi{runs: []extension.RunID{r}, ids: map[extension.RunID][]string{}, tags: map[string]bool{}}
		for _, s := range s.List(r, ^uint64(0)) {
			ref.ids[r] = append(ref.ids[r], s.ID)
			for _, tag := range s.Tags {
				ref.tags[tag] = true
			}
		}
		want := answers(s, ref, ^uint64(0))
		again := load(t, section(t, freezeAll(s, ^uint64(0))), 2)
		require.Equal(t, want, answers(again, ref, ^uint64(0)))
	})
}
