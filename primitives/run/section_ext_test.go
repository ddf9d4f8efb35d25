package run_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/extension/extensiontest"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/primitives/run"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// store is a run store of n shards.
type store struct {
	s      *run.Store
	shards []extension.Shard
	seq    *fakeSeq
}

func newStore(n int) *store {
	st := &store{s: run.New(n), seq: &fakeSeq{staged: map[extension.Key]extension.Staged{}}}
	for i := range n {
		st.shards = append(st.shards, st.s.NewShard(i))
	}
	return st
}

func (st *store) shardOf(id extension.RunID) extension.Shard {
	return st.shards[id.Shard(len(st.shards))]
}

// do validates ch at ver and applies its entry, as the sequencer and the actor would.
func (st *store) do(t testing.TB, ch *run.Change, err error, id extension.RunID, ver uint64) {
	t.Helper()
	require.NoError(t, err)
	c := st.seq.commit(id, ver)
	require.NoError(t, ch.Validate(c))
	es := ch.Entries(nil, c)
	for i := range es {
		es[i].TxID = ver
	}
	require.NoError(t, st.shardOf(id).Apply(es))
}

func (st *store) freeze(v uint64) []extension.FrozenView { return extensiontest.Freeze(st.shards, v) }

func writeSection(t testing.TB, views []extension.FrozenView) []byte {
	t.Helper()
	sec, err := extensiontest.Section(views...)
	require.NoError(t, err)
	return sec
}

// loadSection loads every chunk of sec into a fresh store of n shards, routing each by its run.
func loadSection(t testing.TB, sec []byte, n int) *store {
	t.Helper()
	st := newStore(n)
	require.NoError(t, extensiontest.LoadSection(sec, st.shards))
	return st
}

// view is every answer of the store at snapshot v about ids.
func view(s *run.Store, ids []extension.RunID, v uint64) map[string]any {
	out := map[string]any{}
	for _, id := range ids {
		r, ok := s.Get(id, v)
		if ok {
			out["get "+id.String()] = *r
		} else {
			out["get "+id.String()] = nil
		}
		out["status "+id.String()] = s.Status(id, v)
	}
	recs := map[extension.RunID]run.Record{}
	for _, r := range s.Records(v) {
		recs[r.ID] = *r
	}
	out["records"] = recs
	return out
}

func sectionRunIDs(n int) []extension.RunID {
	var ids []extension.RunID
	for i := range n {
		ids = append(ids, extension.RunID{0x60, byte(i), 0x42})
	}
	return ids
}

// lifecycles: by version mid every status is there (a Active, b Failed with a reason,
// c Completed, d Orphaned, g Active again after a resume); after it a ends, d resumes, g fails
// and f is begun and ended.
func lifecycles(t testing.TB, st *store, views func()) (ids []extension.RunID, mid, last uint64) {
	ids = sectionRunIDs(6)
	a, b, c, d, g, f := ids[0], ids[1], ids[2], ids[3], ids[4], ids[5]
	info := run.Info{Name: "plan", Agent: "planner", Tags: []string{"x", "y"}, Parent: b,
		Metadata: json.RawMessage(`{"model":"<m>&","n":[1,2]}`)}
	for i, id := range []extension.RunID{b, c, d, g} {
		ch, err := st.s.Begin(id, run.Info{Name: fmt.Sprint("run ", i)})
		st.do(t, ch, err, id, uint64(1+i))
	}
	ch, err := st.s.Begin(a, info) // after b, its parent
	st.do(t, ch, err, a, 5)
	ch, err = st.s.End(b, true, "tool crashed: ü")
	st.do(t, ch, err, b, 6)
	ch, err = st.s.End(c, false, "")
	st.do(t, ch, err, c, 7)
	st.do(t, st.s.Orphan(d), nil, d, 8)
	st.do(t, st.s.Orphan(g), nil, g, 9)
	ch, err = st.s.Resume(g)
	st.do(t, ch, err, g, 10)
	views()
	ch, err = st.s.End(a, false, "")
	st.do(t, ch, err, a, 11)
	ch, err = st.s.Resume(d)
	st.do(t, ch, err, d, 12)
	ch, err = st.s.End(g, true, "later")
	st.do(t, ch, err, g, 13)
	ch, err = st.s.Begin(f, run.Info{})
	st.do(t, ch, err, f, 14)
	ch, err = st.s.End(f, false, "")
	st.do(t, ch, err, f, 15)
	return append(ids, extension.RunID{0xEE}), 10, 15
}

func TestRunSectionRoundTrip(t *testing.T) {
	st := newStore(2)
	var views []extension.FrozenView
	ids, mid, last := lifecycles(t, st, func() { views = st.freeze(10) })
	routes := map[int]bool{}
	for _, id := range ids {
		routes[id.Shard(2)*10+id.Shard(3)] = true
	}
	require.Greater(t, len(routes), 2, "runs spread differently over 2 and 3 shards")

	sec := writeSection(t, views)
	fresh := loadSection(t, sec, 3)
	want := view(st.s, ids, mid)
	assert.Equal(t, want, view(fresh.s, ids, mid))
	assert.Equal(t, want, view(fresh.s, ids, last), "nothing of the later commits")
	assert.Equal(t, want, view(fresh.s, ids, ^uint64(0)))
	assert.NotEqual(t, want, view(st.s, ids, last))
	assert.Len(t, fresh.s.Records(last), 5)

	a, b, c, d, g, f := ids[0], ids[1], ids[2], ids[3], ids[4], ids[5]
	for id, status := range map[extension.RunID]run.Status{a: run.Active, b: run.Failed, c: run.Completed,
		d: run.Orphaned, g: run.Active, f: run.NotFound} {
		assert.Equal(t, status, fresh.s.Status(id, last), "status of %s", id)
	}
	rb, ok := fresh.s.Get(b, last)
	require.True(t, ok)
	assert.Equal(t, "tool crashed: ü", rb.Reason)
	assert.Equal(t, st.seq.commit(b, 6).ts, rb.EndedAt)
	ra, ok := fresh.s.Get(a, last)
	require.True(t, ok)
	assert.Equal(t, st.seq.commit(a, 5).ts, ra.StartedAt)
	assert.Zero(t, ra.EndedAt)
	assert.JSONEq(t, `{"model":"<m>&","n":[1,2]}`, string(ra.Info.Metadata))
	assert.Equal(t, b, ra.Info.Parent)
	// Each record keeps the commit version that wrote it (b's end at 6, g's resume at 10).
	_, ok = fresh.s.Get(b, 6)
	assert.True(t, ok)
	_, ok = fresh.s.Get(b, 5)
	assert.False(t, ok, "only the record at the version is kept, from its commit on")
	_, ok = fresh.s.Get(g, 9)
	assert.False(t, ok)

	// The lifecycle goes on from the loaded records.
	assert.NoError(t, fresh.s.CheckRun(fresh.seq.commit(a, 11)))
	assert.ErrorIs(t, fresh.s.CheckRun(fresh.seq.commit(b, 11)), dberr.ErrRunNotActive)
	assert.ErrorIs(t, fresh.s.CheckRun(fresh.seq.commit(f, 11)), dberr.ErrRunNotFound)
	ch, err := fresh.s.Begin(b, run.Info{})
	require.NoError(t, err)
	assert.ErrorIs(t, ch.Validate(fresh.seq.commit(b, 11)), dberr.ErrRunExists)
	ch, err = fresh.s.End(a, true, "after recovery")
	fresh.do(t, ch, err, a, 11)
	ch, err = fresh.s.Resume(d)
	fresh.do(t, ch, err, d, 12)
	r, ok := fresh.s.Get(a, 11)
	require.True(t, ok)
	assert.Equal(t, run.Failed, r.Status)
	assert.Equal(t, "after recovery", r.Reason)
	assert.Equal(t, ra.StartedAt, r.StartedAt)
	assert.Equal(t, ra.Info, r.Info)
	assert.Equal(t, run.Active, fresh.s.Status(a, 10), "the loaded record stays readable at its version")
	assert.Equal(t, run.Active, fresh.s.Status(d, 12))

	// Views frozen after the later commits write the state at their version.
	for _, v := range []uint64{0, 1, 6, 9, last} {
		sec := writeSection(t, st.freeze(v))
		assert.Equal(t, view(st.s, ids, v), view(loadSection(t, sec, 3).s, ids, ^uint64(0)), "frozen at %d", v)
		if v == 0 {
			assert.Empty(t, sec)
		}
	}
}

// rawBody builds a chunk body field by field, as the package doc describes it, with an empty
// journal.
func rawBody(format byte, commit uint64, status byte, started, ended int64, reason, info string) []byte {
	return append(rawRecord(format, commit, status, started, ended, reason, info), 0)
}

func rawRecord(format byte, commit uint64, status byte, started, ended int64, reason, info string) []byte {
	b := binary.AppendUvarint([]byte{format}, commit)
	b = append(b, status)
	b = binary.LittleEndian.AppendUint64(b, uint64(started))
	b = binary.LittleEndian.AppendUint64(b, uint64(ended))
	b = binary.AppendUvarint(b, uint64(len(reason)))
	b = append(b, reason...)
	b = binary.AppendUvarint(b, uint64(len(info)))
	return append(b, info...)
}

// Run metadata loads in the form the section writer writes, whatever its spelling in the
// bytes: a section this package did not write still loads to a state that the next snapshot
// writes back unchanged.
func TestRunMetadataLoadsCanonical(t *testing.T) {
	id := sectionRunIDs(1)[0]
	st := newStore(1)
	body := rawBody(2, 7, byte(run.Active), 5, 0, "", `{"name":"n", "Metadata": { "q" : "a&b<c>" , "n":[1, 2] }}`)
	require.NoError(t, st.shards[0].LoadSection(extension.NewChunk(id, body)))
	r, ok := st.s.Get(id, ^uint64(0))
	require.True(t, ok)
	assert.Equal(t, `{"q":"a\u0026b\u003cc\u003e","n":[1,2]}`, string(r.Info.Metadata))

	again := loadSection(t, writeSection(t, st.freeze(^uint64(0))), 1)
	ids := []extension.RunID{id}
	assert.Equal(t, view(st.s, ids, ^uint64(0)), view(again.s, ids, ^uint64(0)))
}

func TestRunSectionMalformed(t *testing.T) {
	id := extension.RunID{0x61}
	good := rawBody(2, 7, byte(run.Failed), 5, 9, "why", `{"name":"n","tags":["t"]}`)
	cases := map[string][]byte{
		"empty":              {},
		"format 0":           rawBody(0, 7, byte(run.Failed), 5, 9, "why", `{}`),
		"format 1":           rawBody(1, 7, byte(run.Failed), 5, 9, "why", `{}`),
		"format 3":           rawBody(3, 7, byte(run.Failed), 5, 9, "why", `{}`),
		"commit 0":           rawBody(2, 0, byte(run.Failed), 5, 9, "why", `{}`),
		"status not_found":   rawBody(2, 7, byte(run.NotFound), 5, 9, "", `{}`),
		"status 5":           rawBody(2, 7, 5, 5, 9, "", `{}`),
		"status 255":         rawBody(2, 7, 255, 5, 9, "", `{}`),
		"trailing byte":      append(bytes.Clone(good), ' '),
		"bad info json":      rawBody(2, 7, byte(run.Active), 5, 0, "", `{"name":`),
		"info of wrong type": rawBody(2, 7, byte(run.Active), 5, 0, "", `{"tags":"x"}`),
		"no info":            rawBody(2, 7, byte(run.Active), 5, 0, "", ``),
		"huge reason length": append(binary.AppendUvarint(bytes.Clone(good[:1+1+17]), 1<<62), make([]byte, 32)...),
		"huge info length":   binary.AppendUvarint(rawBody(2, 7, byte(run.Active), 5, 0, "", "")[:1+1+17+1], 1<<62),
		"overlong commit":    bytes.Repeat([]byte{0xFF}, 11),
	}
	for n := range len(good) {
		cases[fmt.Sprint("cut at ", n)] = good[:n]
	}
	other := sectionRunIDs(1)[0]
	for name, b := range cases {
		st := newStore(1)
		ch, err := st.s.Begin(other, run.Info{Name: "o"})
		st.do(t, ch, err, other, 1)
		before := view(st.s, []extension.RunID{id, other}, ^uint64(0))
		require.NotPanics(t, func() { err = st.shards[0].LoadSection(extension.NewChunk(id, b)) }, name)
		assert.ErrorIs(t, err, dberr.ErrCorruption, name)
		assert.Equal(t, before, view(st.s, []extension.RunID{id, other}, ^uint64(0)), name)
	}

	st := newStore(1)
	sh := st.shards[0]
	require.NoError(t, sh.LoadSection(extension.NewChunk(id, good)))
	r, ok := st.s.Get(id, 7)
	require.True(t, ok)
	assert.Equal(t, run.Record{ID: id, Info: run.Info{Name: "n", Tags: []string{"t"}}, Status: run.Failed,
		StartedAt: 5, EndedAt: 9, Reason: "why"}, *r)
	_, ok = st.s.Get(id, 6)
	assert.False(t, ok)
	err := sh.LoadSection(extension.NewChunk(id, rawBody(2, 8, byte(run.Active), 5, 0, "", `{}`)))
	assert.ErrorIs(t, err, dberr.ErrCorruption, "a run loaded twice")
	assert.Equal(t, run.Failed, st.s.Status(id, 100))
	err = sh.LoadSection(extension.NewChunk(extension.GlobalRun, rawBody(2, 8, byte(run.Active), 5, 0, "", `{}`)))
	assert.ErrorIs(t, err, dberr.ErrCorruption, "GlobalRun has no record")
	assert.Len(t, st.s.Records(100), 1)
}

// Every truncation of every chunk fails, through either reader, and changes nothing; byte flips
// never panic, and a flip that fails changes nothing.
func TestRunSectionDamage(t *testing.T) {
	st := newStore(2)
	var views []extension.FrozenView
	ids, mid, _ := lifecycles(t, st, func() { views = st.freeze(10) })
	sec := writeSection(t, views)
	chunks, err := extensiontest.Chunks(sec)
	require.NoError(t, err)
	require.Len(t, chunks, 5)
	for i, c := range chunks {
		others := slices.Delete(slices.Clone(chunks), i, i+1)
		base := func() *store {
			f := newStore(3)
			require.NoError(t, extensiontest.LoadChunks(others, f.shards))
			return f
		}
		f := base()
		want := view(f.s, ids, ^uint64(0))
		check := func(what string, err error) {
			t.Helper()
			require.ErrorIs(t, err, dberr.ErrCorruption, what)
			require.Equal(t, want, view(f.s, ids, ^uint64(0)), what)
		}
		for d := range extensiontest.BodyCuts(c) {
			var err error
			require.NotPanics(t, func() { err = f.shardOf(c.Run).LoadSection(d.Chunk) })
			check(d.What, err)
		}
		for d := range extensiontest.ChunkCuts(c) {
			check(d.What, f.shardOf(c.Run).LoadSection(d.Chunk))
		}
		failed := 0
		for d := range extensiontest.Flips(c) {
			var err error
			require.NotPanics(t, func() { err = f.shardOf(c.Run).LoadSection(d.Chunk) })
			if err == nil {
				f = base()
				continue
			}
			failed++
			check(d.What, err)
		}
		assert.Greater(t, failed, len(c.Body)/2)
		require.NoError(t, f.shardOf(c.Run).LoadSection(bytes.NewReader(extensiontest.Encode(c))))
	}
	assert.Equal(t, view(st.s, ids, mid), view(loadSection(t, sec, 3).s, ids, ^uint64(0)))
}

// WriteSection runs while the actor applies newer lifecycle changes. Run with -race.
func TestRunSectionWhileApplying(t *testing.T) {
	st := newStore(2)
	ids := sectionRunIDs(200)
	for i, id := range ids {
		ch, err := st.s.Begin(id, run.Info{Name: fmt.Sprint(i)})
		st.do(t, ch, err, id, uint64(i+1))
	}
	v := uint64(len(ids))
	wait := extensiontest.WriteConcurrently(1, st.freeze(v)...)
	ver := v
	for i, id := range ids {
		ver++
		ch, err := st.s.End(id, i%2 == 0, "r")
		st.do(t, ch, err, id, ver)
		ver++
		ch, err = st.s.Begin(extension.RunID{0x99, byte(i), byte(i >> 8)}, run.Info{})
		st.do(t, ch, err, extension.RunID{0x99, byte(i), byte(i >> 8)}, ver)
	}
	secs, err := wait()
	require.NoError(t, err)
	require.Len(t, secs, 1)
	fresh := loadSection(t, secs[0], 3)
	assert.Equal(t, view(st.s, ids, v), view(fresh.s, ids, ^uint64(0)))
	assert.Len(t, fresh.s.Records(^uint64(0)), len(ids))
}

// frozenChunks runs history on a store of n shards and returns the chunks of the section
// written from its view at version at, frozen where history calls freeze.
func frozenChunks(t testing.TB, n int, at uint64, history func(st *store, freeze func())) []*extension.Chunk {
	t.Helper()
	st := newStore(n)
	var views []extension.FrozenView
	history(st, func() { views = st.freeze(at) })
	chunks, err := extensiontest.Chunks(writeSection(t, views))
	require.NoError(t, err)
	return chunks
}

func FuzzLoadSection(f *testing.F) {
	for _, c := range frozenChunks(f, 2, 10, func(st *store, freeze func()) { lifecycles(f, st, freeze) }) {
		f.Add(c.Body)
	}
	for _, c := range frozenChunks(f, 1, 5, func(st *store, freeze func()) { journals(f, st, freeze) }) {
		f.Add(c.Body)
	}
	f.Add(rawBody(2, 1, byte(run.Orphaned), -1, 0, "", `null`))
	id := sectionRunIDs(1)[0]
	f.Fuzz(func(t *testing.T, b []byte) {
		st := newStore(1)
		if err := st.shards[0].LoadSection(extension.NewChunk(id, b)); err != nil {
			require.ErrorIs(t, err, dberr.ErrCorruption)
			require.Empty(t, st.s.Records(^uint64(0)), "a failed load changes nothing")
			return
		}
		// What loaded writes a section that loads to the same record.
		want := view(st.s, []extension.RunID{id}, ^uint64(0))
		again := loadSection(t, writeSection(t, st.freeze(^uint64(0))), 2)
		require.Equal(t, want, view(again.s, []extension.RunID{id}, ^uint64(0)))
		wantSteps, wantOps, _ := journal(st.s, id, ^uint64(0))
		steps, ops, _ := journal(again.s, id, ^uint64(0))
		require.Equal(t, wantSteps, steps)
		require.Equal(t, wantOps, ops)
		_ = st.s.CheckRun(st.seq.commit(id, 1<<40))
	})
}
