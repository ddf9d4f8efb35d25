package trace

import (
	"fmt"
	"github.com/inmemdb/inmem/internal/mvcc"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/extension/extensiontest"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var run = extension.RunID{5}

type commit = extensiontest.Commit

func newStore() (*Store, *shard) {
	s := New(1)
	return s, s.NewShard(0).(*shard)
}

// commitOne records spans in one transaction at snapshot version-1, validates it and applies
// it at version; it returns the entries applied (for replay) and the ids.
func commitOne(t *testing.T, s *Store, sh *shard, version uint64, spans ...Span) ([]commitlog.Entry, []string) {
	t.Helper()
	tx := s.NewTx(run, version-1)
	var ids []string
	for _, sp := range spans {
		id, err := tx.Record(sp)
		require.NoError(t, err)
		ids = append(ids, id)
	}
	c := &commit{RunID: run, Snap: version - 1, Ver: version, TS: 1000}
	require.NoError(t, tx.Validate(c))
	es := tx.Entries(nil, c)
	for i := range es {
		es[i].TxID = version
	}
	require.NoError(t, sh.Apply(es))
	return es, ids
}

func sp(id, parent string, start int64) Span {
	return Span{ID: id, ParentID: parent, Kind: KindThought, Name: "n-" + id, Start: start}
}

func ids(spans []Span) []string {
	out := []string{}
	for _, s := range spans {
		out = append(out, s.ID)
	}
	return out
}

func TestRecordAndGet(t *testing.T) {
	s, sh := newStore()
	in := Span{ID: "a", Kind: KindToolCall, Name: "search", Start: 10, End: 20,
		Tags: []string{"x", "y", "x"}, Attributes: []byte(`{"q":1}`)}
	_, got := commitOne(t, s, sh, 1, in)
	assert.Equal(t, []string{"a"}, got)
	out, ok := s.Get(run, "a", 1)
	require.True(t, ok)
	assert.Equal(t, Span{ID: "a", Kind: KindToolCall, Name: "search", Start: 10, End: 20,
		Tags: []string{"x", "y"}, Attributes: []byte(`{"q":1}`), Commit: 1}, out)
	_, ok = s.Get(run, "a", 0)
	assert.False(t, ok, "invisible below its commit")
	_, ok = s.Get(extension.RunID{9}, "a", 1)
	assert.False(t, ok, "other run")

	// A generated id: 32 hex characters, distinct each time.
	_, gen := commitOne(t, s, sh, 2, Span{Kind: KindQuery, Name: "q"}, Span{Kind: KindQuery, Name: "q"})
	require.Len(t, gen, 2)
	assert.Len(t, gen[0], 32)
	assert.NotEqual(t, gen[0], gen[1])
	_, ok = s.Get(run, gen[1], 2)
	assert.True(t, ok)
	assert.Equal(t, 3, s.Count(run, 2))
	assert.Equal(t, 1, s.Count(run, 1))
	assert.Equal(t, 0, s.Count(run, 0))
}

func TestTxGetSeesOwnSpans(t *testing.T) {
	s, sh := newStore()
	commitOne(t, s, sh, 1, sp("a", "", 1))
	tx := s.NewTx(run, 1)
	_, err := tx.Record(sp("b", "a", 2))
	require.NoError(t, err)
	got, err := tx.Get("b")
	require.NoError(t, err)
	assert.Equal(t, "a", got.ParentID)
	got, err = tx.Get("a")
	require.NoError(t, err)
	assert.EqualValues(t, 1, got.Commit)
	_, err = tx.Get("zz")
	assert.ErrorIs(t, err, dberr.ErrNotFound)
	assert.Equal(t, 1, tx.Pending())
}

func TestParentMustExist(t *testing.T) {
	s, sh := newStore()
	commitOne(t, s, sh, 1, sp("root", "", 1))
	// Earlier transaction.
	commitOne(t, s, sh, 2, sp("child", "root", 2))
	// Same transaction, parent recorded first.
	commitOne(t, s, sh, 3, sp("p", "", 3), sp("c", "p", 4))
	// Missing parent.
	tx := s.NewTx(run, 3)
	_, err := tx.Record(sp("orphan", "nope", 5))
	require.NoError(t, err, "checked at commit")
	c := &commit{Snap: 3, Ver: 4}
	assert.ErrorIs(t, tx.Validate(c), dberr.ErrNotFound)
	assert.Empty(t, c.StagedAt, "nothing staged on failure")
	// A parent recorded later in the same transaction does not count.
	tx = s.NewTx(run, 3)
	_, err = tx.Record(sp("kid", "later", 5))
	require.NoError(t, err)
	_, err = tx.Record(sp("later", "", 5))
	require.NoError(t, err)
	assert.ErrorIs(t, tx.Validate(&commit{Snap: 3, Ver: 4}), dberr.ErrNotFound)
	// A parent staged by a sequenced, unapplied commit counts.
	staged := &commit{Snap: 3, Ver: 5}
	staged.Stage(extension.Key{Section: SectionID, Run: run, Name: "inflight"}, extension.Staged{Version: 4})
	tx = s.NewTx(run, 3)
	_, err = tx.Record(sp("k2", "inflight", 5))
	require.NoError(t, err)
	require.NoError(t, tx.Validate(staged))
	_, ok := staged.StagedAt[extension.Key{Section: SectionID, Run: run, Name: "k2"}]
	assert.True(t, ok, "the span's key is staged")
	// A parent committed after the reader's snapshot counts too (checked against the newest state).
	tx = s.NewTx(run, 0)
	_, err = tx.Record(sp("late", "root", 5))
	require.NoError(t, err)
	assert.NoError(t, tx.Validate(&commit{Snap: 0, Ver: 6}))
}

func TestDuplicateID(t *testing.T) {
	s, sh := newStore()
	commitOne(t, s, sh, 1, sp("a", "", 1))
	// Applied.
	tx := s.NewTx(run, 1)
	_, err := tx.Record(sp("a", "", 2))
	require.NoError(t, err)
	assert.ErrorIs(t, tx.Validate(&commit{Snap: 1, Ver: 2}), dberr.ErrAlreadyExists)
	// Staged only.
	staged := &commit{Snap: 1, Ver: 3}
	staged.Stage(extension.Key{Section: SectionID, Run: run, Name: "b"}, extension.Staged{Version: 2})
	tx = s.NewTx(run, 1)
	_, err = tx.Record(sp("b", "", 2))
	require.NoError(t, err)
	assert.ErrorIs(t, tx.Validate(staged), dberr.ErrAlreadyExists)
	// Twice in one transaction: at once.
	tx = s.NewTx(run, 1)
	_, err = tx.Record(sp("c", "", 2))
	require.NoError(t, err)
	_, err = tx.Record(sp("c", "", 3))
	assert.ErrorIs(t, err, dberr.ErrAlreadyExists)
	// The same id in another run is fine.
	tx = s.NewTx(extension.RunID{6}, 1)
	_, err = tx.Record(sp("a", "", 2))
	require.NoError(t, err)
	assert.NoError(t, tx.Validate(&commit{Snap: 1, Ver: 2}))
}

// buildTree records, over three commits and out of time order:
//
//	r1 (t=10) ─ a (t=30) ─ a2 (t=35)
//	          │          └ a1 (t=31)
//	          └ b (t=20)
//	r2 (t=5)  ─ c (t=6)
func buildTree(t *testing.T, s *Store, sh *shard) []commitlog.Entry {
	var all []commitlog.Entry
	es, _ := commitOne(t, s, sh, 1, sp("r1", "", 10), sp("a", "r1", 30))
	all = append(all, es...)
	es, _ = commitOne(t, s, sh, 2, sp("a2", "a", 35), sp("b", "r1", 20), sp("r2", "", 5))
	all = append(all, es...)
	es, _ = commitOne(t, s, sh, 3, sp("a1", "a", 31), sp("c", "r2", 6))
	return append(all, es...)
}

func TestTreeChildrenRoots(t *testing.T) {
	s, sh := newStore()
	buildTree(t, s, sh)
	tree, ok := s.Tree(run, "r1", 3)
	require.True(t, ok)
	assert.Equal(t, []string{"r1", "b", "a", "a1", "a2"}, ids(tree))
	tree, ok = s.Tree(run, "a", 3)
	require.True(t, ok)
	assert.Equal(t, []string{"a", "a1", "a2"}, ids(tree))
	tree, ok = s.Tree(run, "r1", 2)
	require.True(t, ok)
	assert.Equal(t, []string{"r1", "b", "a", "a2"}, ids(tree), "a1 is later than 2")
	_, ok = s.Tree(run, "a1", 2)
	assert.False(t, ok)

	kids, ok := s.Children(run, "r1", 3)
	require.True(t, ok)
	assert.Equal(t, []string{"b", "a"}, ids(kids))
	kids, ok = s.Children(run, "a1", 3)
	require.True(t, ok)
	assert.Empty(t, kids)
	_, ok = s.Children(run, "missing", 3)
	assert.False(t, ok)

	assert.Equal(t, []string{"r2", "r1"}, ids(s.Roots(run, 3)))
	assert.Equal(t, []string{"r1"}, ids(s.Roots(run, 1)))
	assert.Equal(t, []string{"r2", "c", "r1", "b", "a", "a1", "a2"}, ids(s.List(run, 3)))
	assert.Equal(t, 7, s.Count(run, 3))
}

func TestByKindByTagInTime(t *testing.T) {
	s, sh := newStore()
	commitOne(t, s, sh, 1,
		Span{ID: "x", Kind: KindToolCall, Name: "n", Start: 100, Tags: []string{"io"}},
		Span{ID: "y", Kind: KindDecision, Name: "n", Start: 200, Tags: []string{"io", "plan"}},
		Span{ID: "z", Kind: KindToolCall, Name: "n", Start: 150})
	commitOne(t, s, sh, 2, Span{ID: "w", Kind: KindToolCall, Name: "n", Start: 50, Tags: []string{"plan"}})

	assert.Equal(t, []string{"w", "x", "z"}, ids(s.ByKind(run, KindToolCall, 2)))
	assert.Equal(t, []string{"x", "z"}, ids(s.ByKind(run, KindToolCall, 1)))
	assert.Equal(t, []string{"y"}, ids(s.ByKind(run, KindDecision, 2)))
	assert.Empty(t, s.ByKind(run, KindError, 2))
	assert.Equal(t, []string{"x", "y"}, ids(s.ByTag(run, "io", 2)))
	assert.Equal(t, []string{"w", "y"}, ids(s.ByTag(run, "plan", 2)))
	assert.Empty(t, s.ByTag(run, "none", 2))

	// [from, to): from included, to excluded.
	assert.Equal(t, []string{"x", "z"}, ids(s.InTime(run, 100, 200, 2)))
	assert.Equal(t, []string{"x", "z", "y"}, ids(s.InTime(run, 100, 201, 2)))
	assert.Equal(t, []string{"z", "y"}, ids(s.InTime(run, 101, 201, 2)))
	assert.Equal(t, []string{"w", "x"}, ids(s.InTime(run, 0, 150, 2)))
	assert.Equal(t, []string{"x"}, ids(s.InTime(run, 0, 150, 1)), "w is later than 1")
	assert.Empty(t, s.InTime(run, 150, 150, 2))
	assert.Empty(t, s.InTime(run, 300, 100, 2))
}

func TestSnapshotVisibility(t *testing.T) {
	s, sh := newStore()
	buildTree(t, s, sh)
	for v, want := range map[uint64][]string{
		0: {}, 1: {"r1", "a"}, 2: {"r2", "r1", "b", "a", "a2"}, 3: {"r2", "c", "r1", "b", "a", "a1", "a2"},
	} {
		assert.Equal(t, want, ids(s.List(run, v)), "List at %d", v)
		assert.Equal(t, len(want), s.Count(run, v), "Count at %d", v)
		_, ok := s.Get(run, "c", v)
		assert.Equal(t, v >= 3, ok, "Get c at %d", v)
		assert.Len(t, s.ByKind(run, KindThought, v), len(want))
	}
}

// snapshotOf collects every query's answer, for comparing stores.
func snapshotOf(s *Store, v uint64) map[string]any {
	out := map[string]any{"list": s.List(run, v), "count": s.Count(run, v), "roots": s.Roots(run, v),
		"kind": s.ByKind(run, KindThought, v), "time": s.InTime(run, 6, 31, v)}
	for _, id := range []string{"r1", "r2", "a", "b", "c", "a1", "a2"} {
		g, _ := s.Get(run, id, v)
		tr, _ := s.Tree(run, id, v)
		ch, _ := s.Children(run, id, v)
		out["get "+id], out["tree "+id], out["children "+id] = g, tr, ch
	}
	return out
}

func TestReplayRebuildsIdenticalIndexes(t *testing.T) {
	s, sh := newStore()
	entries := buildTree(t, s, sh)
	// Recovery: the same entries, in one batch, on a fresh store.
	s2, sh2 := newStore()
	require.NoError(t, sh2.Apply(entries))
	for v := uint64(0); v <= 3; v++ {
		assert.Equal(t, snapshotOf(s, v), snapshotOf(s2, v), "at %d", v)
	}
	// And entry by entry.
	s3, sh3 := newStore()
	for _, e := range entries {
		require.NoError(t, sh3.Apply([]commitlog.Entry{e}))
	}
	assert.Equal(t, snapshotOf(s, 3), snapshotOf(s3, 3))
}

func TestBadInput(t *testing.T) {
	s, _ := newStore()
	tx := s.NewTx(run, 0)
	for name, bad := range map[string]Span{
		"unknown kind":   {Kind: "dream", Name: "n"},
		"empty kind":     {Name: "n"},
		"empty name":     {Kind: KindThought},
		"end before":     {Kind: KindThought, Name: "n", Start: 10, End: 9},
		"bad json":       {Kind: KindThought, Name: "n", Attributes: []byte(`{"a":`)},
		"empty tag":      {Kind: KindThought, Name: "n", Tags: []string{""}},
		"own parent":     {ID: "a", ParentID: "a", Kind: KindThought, Name: "n"},
		"bad utf-8 name": {Kind: KindThought, Name: "\xff"},
		"too many tags":  {Kind: KindThought, Name: "n", Tags: make([]string, MaxTags+1)},
	} {
		_, err := tx.Record(bad)
		assert.ErrorIs(t, err, dberr.ErrInvalidArgument, name)
	}
	_, err := tx.Record(Span{Kind: KindThought, Name: string(make([]byte, MaxNameSize+1))})
	assert.ErrorIs(t, err, dberr.ErrTooLarge)
	assert.True(t, tx.Empty())
	// Open spans (End 0) and End == Start are fine; so are empty attributes.
	_, err = tx.Record(Span{Kind: KindThought, Name: "n", Start: 10})
	assert.NoError(t, err)
	_, err = tx.Record(Span{Kind: KindThought, Name: "n", Start: 10, End: 10})
	assert.NoError(t, err)
}

func TestApplyMalformed(t *testing.T) {
	good := encode(run, &Span{ID: "a", Kind: KindThought, Name: "n", Start: 1, End: 2, Tags: []string{"t"}, Attributes: []byte(`{}`)})
	mk := func(p []byte) commitlog.Entry {
		return commitlog.Entry{Type: TypeRecord, Version: 1, TxID: 1, Payload: p}
	}
	cases := map[string]commitlog.Entry{
		"wrong type":     {Type: 0x51, Version: 1, TxID: 1, Payload: good},
		"wrong version":  {Type: TypeRecord, Version: 2, TxID: 1, Payload: good},
		"short":          mk(good[:10]),
		"no id":          mk(run[:]),
		"truncated":      mk(good[:commitlog.RunIDSize+3]),
		"bad kind":       mk(encode(run, &Span{ID: "a", Kind: "x", Name: "n"})),
		"empty name":     mk(encode(run, &Span{ID: "a", Kind: KindThought})),
		"end < start":    mk(encode(run, &Span{ID: "a", Kind: KindThought, Name: "n", Start: 5, End: 1})),
		"repeated tag":   mk(encode(run, &Span{ID: "a", Kind: KindThought, Name: "n", Tags: []string{"t", "t"}})),
		"missing parent": mk(encode(run, &Span{ID: "a", ParentID: "p", Kind: KindThought, Name: "n"})),
	}
	for name, e := range cases {
		_, sh := newStore()
		// A good entry first: a malformed batch leaves the shard untouched.
		err := sh.Apply([]commitlog.Entry{mk(encode(run, &Span{ID: "ok", Kind: KindThought, Name: "n"})), e})
		assert.ErrorIs(t, err, ErrMalformed, name)
		assert.Nil(t, sh.runs.At(run, mvcc.Latest), name)
	}
	// A span recorded twice (in one batch, or in two).
	s, sh := newStore()
	assert.ErrorIs(t, sh.Apply([]commitlog.Entry{mk(good), mk(good)}), ErrMalformed)
	require.NoError(t, sh.Apply([]commitlog.Entry{mk(good)}))
	assert.ErrorIs(t, sh.Apply([]commitlog.Entry{mk(good)}), ErrMalformed)
	assert.Equal(t, 1, s.Count(run, 1))
}

func FuzzApply(f *testing.F) {
	f.Add(encode(run, &Span{ID: "a", Kind: KindThought, Name: "n", Start: 1, End: 2, Tags: []string{"t"}, Attributes: []byte(`{}`)}))
	f.Add(encode(run, &Span{ID: "b", ParentID: "a", Kind: KindError, Name: "n"}))
	f.Add(run[:])
	f.Fuzz(func(t *testing.T, p []byte) {
		s, sh := newStore()
		root := commitlog.Entry{Type: TypeRecord, Version: 1, TxID: 1,
			Payload: encode(run, &Span{ID: "a", Kind: KindThought, Name: "n"})}
		require.NoError(t, sh.Apply([]commitlog.Entry{root}))
		err := sh.Apply([]commitlog.Entry{{Type: TypeRecord, Version: 1, TxID: 2, Payload: p}})
		if err != nil {
			assert.ErrorIs(t, err, ErrMalformed)
			return
		}
		var r extension.RunID
		copy(r[:], p)
		// Whatever decoded is queryable and round-trips.
		list := s.List(r, 2)
		require.NotEmpty(t, list)
		for _, got := range list {
			if got.Commit != 2 {
				continue
			}
			d, err := decode(commitlog.Entry{Type: TypeRecord, Version: 1, TxID: 2, Payload: encode(r, &got)})
			require.NoError(t, err)
			assert.Equal(t, got, *d.span)
			_, _ = s.Tree(r, got.ID, 2)
		}
		_ = s.InTime(r, -1<<63, 1<<63-1, 2)
	})
}

// TestConcurrentReaders reads while the actor applies (spans out of Start order, so lists are
// both appended in place and copied): a reader at a published version always sees exactly the
// spans committed up to it, consistently across indexes. Run with -race.
func TestConcurrentReaders(t *testing.T) {
	s, sh := newStore()
	const n = 300
	var published atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				v := published.Load()
				all := s.List(run, v)
				if len(all) != int(v) || s.Count(run, v) != int(v) || len(s.ByTag(run, "t", v)) != int(v) {
					t.Errorf("at %d: list %d count %d", v, len(all), s.Count(run, v))
					return
				}
				if v > 0 {
					if tree, _ := s.Tree(run, "s0", v); len(tree) != int(v) {
						t.Errorf("at %d: tree of %d", v, len(tree))
						return
					}
				}
			}
		}()
	}
	for i := range n {
		parent := ""
		if i > 0 {
			parent = fmt.Sprintf("s%d", i/2)
		}
		start := int64((i * 7919) % 101)
		e := commitlog.Entry{Type: TypeRecord, Version: 1, TxID: uint64(i + 1), Payload: encode(run,
			&Span{ID: fmt.Sprintf("s%d", i), ParentID: parent, Kind: KindThought, Name: "n", Start: start, Tags: []string{"t"}})}
		require.NoError(t, sh.Apply([]commitlog.Entry{e}))
		published.Store(uint64(i + 1))
	}
	close(done)
	wg.Wait()
	assert.Equal(t, n, s.Count(run, n))
}
