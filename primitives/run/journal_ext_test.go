package run_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/extension/extensiontest"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/primitives/run"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// data is an entry of another primitive, as the run shard sees it inside a whole transaction.
func data(id extension.RunID, ver uint64, typ uint8, s string) commitlog.Entry {
	return commitlog.Entry{Type: typ, Version: 1, TxID: ver, Payload: append(id[:len(id):len(id)], s...)}
}

// journaled builds a whole journaled transaction of id at ver: the step entry the sequencer
// adds (through JournalEntries), then ops entries of other primitives.
func (st *store) journaled(id extension.RunID, ver uint64, ops ...string) []commitlog.Entry {
	es := st.s.JournalEntries(nil, st.seq.commit(id, ver))
	for i, op := range ops {
		es = append(es, data(id, 0, uint8(0x10+0x10*(i%5)), op))
	}
	for i := range es {
		es[i].TxID = ver
	}
	return es
}

// journal renders what Journal returns, for comparison.
func journal(s *run.Store, id extension.RunID, at uint64) (steps []run.Step, ops []string, ok bool) {
	j, ok := s.Journal(id, at)
	for e, err := range j.Entries() {
		if err != nil {
			panic(err) // in memory: never
		}
		ops = append(ops, fmt.Sprintf("%d %#02x %s", e.TxID, e.Type, e.Payload[commitlog.RunIDSize:]))
	}
	return j.Steps(), ops, ok
}

func TestJournalEntries(t *testing.T) {
	st := newStore(1)
	assert.Empty(t, st.s.JournalEntries(nil, st.seq.commit(extension.GlobalRun, 3)), "GlobalRun is not journaled")
	id := sectionRunIDs(1)[0]
	c := st.seq.commit(id, 3)
	es := st.s.JournalEntries(nil, c)
	require.Len(t, es, 1)
	assert.Equal(t, run.TypeStep, es[0].Type)
	assert.EqualValues(t, 1, es[0].Version)
	assert.Equal(t, id[:], es[0].Payload[:16], "payloads start with the run id")
	assert.EqualValues(t, c.Timestamp(), binary.LittleEndian.Uint64(es[0].Payload[16:]))
	assert.Len(t, es[0].Payload, 24)
}

// The shard journals whole transactions among lifecycle entries, in one batch or many, and a
// reader sees the steps committed at or before its version.
func TestJournalRecordsTransactions(t *testing.T) {
	st := newStore(2)
	a, b := sectionRunIDs(2)[0], sectionRunIDs(2)[1]
	for i, id := range []extension.RunID{a, b} {
		ch, err := st.s.Begin(id, run.Info{})
		st.do(t, ch, err, id, uint64(i+1))
	}
	batch := append(st.journaled(a, 3, "x", "y"), st.journaled(a, 5, "z")...)
	require.NoError(t, st.shardOf(a).Apply(batch))
	require.NoError(t, st.shardOf(b).Apply(st.journaled(b, 4, "other run")))
	ch, err := st.s.End(a, false, "")
	st.do(t, ch, err, a, 6) // a lifecycle change is not a step

	steps, ops, ok := journal(st.s, a, ^uint64(0))
	require.True(t, ok)
	ts := func(v uint64) int64 { return st.seq.commit(a, v).ts }
	assert.Equal(t, []run.Step{{Version: 3, Timestamp: ts(3), End: 2}, {Version: 5, Timestamp: ts(5), At: 2, End: 3}}, steps)
	assert.Equal(t, []string{"3 0x10 x", "3 0x20 y", "5 0x10 z"}, ops)
	steps, ops, _ = journal(st.s, a, 4)
	assert.Len(t, steps, 1, "a reader at 4 does not see step 5")
	assert.Len(t, ops, 2)
	_, ops, _ = journal(st.s, b, ^uint64(0))
	assert.Equal(t, []string{"4 0x10 other run"}, ops)
	_, _, ok = journal(st.s, a, 0)
	assert.False(t, ok, "the run does not exist at version 0")
	_, _, ok = journal(st.s, extension.RunID{9}, ^uint64(0))
	assert.False(t, ok)

	j, _ := st.s.Journal(a, ^uint64(0))
	assert.Equal(t, 3, j.Ops())
	assert.Equal(t, 1, j.Until(1).Len())
	assert.Equal(t, 2, j.Until(1).Ops())
	assert.Equal(t, 2, j.Until(9).Len())
	n := 0
	for range j.Until(0).Entries() {
		n++
	}
	assert.Zero(t, n)
	assert.Zero(t, j.Until(0).Ops())
	assert.Zero(t, j.Until(-1).Len())
	txs, n, _ := st.s.Counts(a, ^uint64(0))
	assert.Equal(t, []int{2, 3}, []int{txs, n})
	txs, n, _ = st.s.Counts(a, 4)
	assert.Equal(t, []int{1, 2}, []int{txs, n}, "counts at a version")
	txs, n, _ = st.s.Counts(extension.RunID{9}, 4)
	assert.Equal(t, []int{0, 0}, []int{txs, n})
}

// Malformed journaled transactions fail Apply with ErrMalformed and journal nothing.
func TestJournalApplyMalformed(t *testing.T) {
	id := sectionRunIDs(1)[0]
	cases := map[string]func(st *store) []commitlog.Entry{
		"unknown run": func(st *store) []commitlog.Entry { return st.journaled(extension.RunID{7}, 5, "x") },
		"not after the last step": func(st *store) []commitlog.Entry {
			return st.journaled(id, 3, "again")
		},
		"run entry inside": func(st *store) []commitlog.Entry {
			es := st.journaled(id, 5, "x")
			return append(es, data(id, 5, run.TypeUpdate, "\x01"))
		},
		"entry of another run": func(st *store) []commitlog.Entry {
			return append(st.journaled(id, 5, "x"), data(extension.RunID{7}, 5, 0x10, "y"))
		},
		"short step": func(st *store) []commitlog.Entry {
			es := st.journaled(id, 5, "x")
			es[0].Payload = es[0].Payload[:20]
			return es
		},
		"step version 2": func(st *store) []commitlog.Entry {
			es := st.journaled(id, 5, "x")
			es[0].Version = 2
			return es
		},
	}
	for name, bad := range cases {
		st := newStore(1)
		ch, err := st.s.Begin(id, run.Info{})
		st.do(t, ch, err, id, 1)
		require.NoError(t, st.shards[0].Apply(st.journaled(id, 3, "ok")))
		before, beforeOps, _ := journal(st.s, id, ^uint64(0))
		err = st.shards[0].Apply(bad(st))
		assert.ErrorIs(t, err, run.ErrMalformed, name)
		after, afterOps, _ := journal(st.s, id, ^uint64(0))
		assert.Equal(t, before, after, name)
		assert.Equal(t, beforeOps, afterOps, name)
	}
}

// journals builds two runs with journals around a lifecycle history, freezing at mid.
func journals(t testing.TB, st *store, freeze func()) (a, b extension.RunID) {
	a, b = sectionRunIDs(2)[0], sectionRunIDs(2)[1]
	for i, id := range []extension.RunID{a, b} {
		ch, err := st.s.Begin(id, run.Info{Name: fmt.Sprint(i)})
		st.do(t, ch, err, id, uint64(i+1))
	}
	require.NoError(t, st.shardOf(a).Apply(st.journaled(a, 3, "a3", "", "a3'")))
	require.NoError(t, st.shardOf(b).Apply(st.journaled(b, 4, "b4")))
	require.NoError(t, st.shardOf(a).Apply(st.journaled(a, 5, "a5")))
	freeze()
	require.NoError(t, st.shardOf(a).Apply(st.journaled(a, 6, "a6 after the freeze")))
	return a, b
}

// A snapshot section carries each run's journal up to the frozen version; loaded, the journal
// goes on from there.
func TestJournalSectionRoundTrip(t *testing.T) {
	st := newStore(2)
	var views []extension.FrozenView
	a, b := journals(t, st, func() { views = st.freeze(5) })
	fresh := loadSection(t, writeSection(t, views), 3)
	for _, id := range []extension.RunID{a, b} {
		wantSteps, wantOps, _ := journal(st.s, id, 5)
		steps, ops, ok := journal(fresh.s, id, ^uint64(0))
		require.True(t, ok)
		assert.Equal(t, wantSteps, steps)
		assert.Equal(t, wantOps, ops)
	}
	require.NoError(t, fresh.shardOf(a).Apply(fresh.journaled(a, 6, "a6")))
	steps, _, _ := journal(fresh.s, a, ^uint64(0))
	assert.Len(t, steps, 3)
	assert.Error(t, fresh.shardOf(a).Apply(fresh.journaled(a, 5, "replayed twice")), "a step at or below the loaded journal's last")
}

// Steps with no operations (first, in the middle and last) survive a section round trip in
// their places: the writer emits each step's header before its entries.
func TestJournalSectionEmptySteps(t *testing.T) {
	st := newStore(1)
	id := sectionRunIDs(1)[0]
	ch, err := st.s.Begin(id, run.Info{Name: "empty steps"})
	st.do(t, ch, err, id, 1)
	for _, step := range []struct {
		ver uint64
		ops []string
	}{{2, nil}, {3, []string{"a", "b"}}, {4, nil}, {5, nil}, {6, []string{"c"}}, {7, nil}} {
		require.NoError(t, st.shardOf(id).Apply(st.journaled(id, step.ver, step.ops...)))
	}
	fresh := loadSection(t, writeSection(t, st.freeze(7)), 1)
	wantSteps, wantOps, _ := journal(st.s, id, 7)
	steps, ops, ok := journal(fresh.s, id, 7)
	require.True(t, ok)
	require.Len(t, steps, 6)
	assert.Equal(t, wantSteps, steps)
	assert.Equal(t, wantOps, ops)
}

// Damaged journals in a section: every cut and count fails with ErrCorruption and loads
// nothing; flips never panic.
func TestJournalSectionDamage(t *testing.T) {
	chunks := frozenChunks(t, 1, 5, func(st *store, freeze func()) { journals(t, st, freeze) })
	for _, c := range chunks {
		for d := range extensiontest.BodyCuts(c) {
			f := newStore(1)
			require.ErrorIs(t, f.shards[0].LoadSection(d.Chunk), dberr.ErrCorruption, d.What)
			assert.Empty(t, f.s.Records(^uint64(0)), d.What)
		}
		for d := range extensiontest.Flips(c) {
			f := newStore(1)
			require.NotPanics(t, func() { _ = f.shards[0].LoadSection(d.Chunk) }, d.What)
		}
	}

	id := sectionRunIDs(1)[0]
	rec := rawRecord(2, 7, byte(run.Active), 5, 0, "", `{}`)
	step := func(b []byte, ver uint64, entries ...[]byte) []byte {
		b = binary.AppendUvarint(b, ver)
		b = binary.LittleEndian.AppendUint64(b, 9)
		b = binary.AppendUvarint(b, uint64(len(entries)))
		for _, e := range entries {
			b = append(b, e...)
		}
		return b
	}
	entry := func(typ byte, op string) []byte {
		payload := append(id[:len(id):len(id)], op...)
		return append(binary.AppendUvarint([]byte{typ, 1}, uint64(len(payload))), payload...)
	}
	two := func(v1, v2 uint64, typ byte) []byte {
		b := binary.AppendUvarint(append([]byte(nil), rec...), 2)
		b = step(b, v1, entry(0x10, "x"))
		return step(b, v2, entry(typ, "y"))
	}
	cases := map[string][]byte{
		"steps not increasing": two(8, 8, 0x10),
		"steps going back":     two(8, 3, 0x10),
		"step version 0":       two(0, 3, 0x10),
		"a run entry":          two(8, 9, run.TypeBegin),
		"huge step count":      binary.AppendUvarint(append([]byte(nil), rec...), 1<<40),
		"huge entry count":     append(binary.AppendUvarint(append([]byte(nil), rec...), 1), 8, 1, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x7F),
		"huge payload length":  step(binary.AppendUvarint(append([]byte(nil), rec...), 1), 8, []byte{0x10, 1, 0xFF, 0xFF, 0x7F}),
		"trailing byte":        append(two(8, 9, 0x10), 0),
		"no journal":           rec,
		"another run's payload": step(binary.AppendUvarint(append([]byte(nil), rec...), 1), 8,
			append(binary.AppendUvarint([]byte{0x10, 1}, 17), make([]byte, 17)...)),
	}
	for name, body := range cases {
		f := newStore(1)
		err := f.shards[0].LoadSection(extension.NewChunk(id, body))
		assert.ErrorIs(t, err, dberr.ErrCorruption, name)
		assert.Empty(t, f.s.Records(^uint64(0)), name)
	}
	f := newStore(1)
	require.NoError(t, f.shards[0].LoadSection(extension.NewChunk(id, two(8, 9, 0x10))), "the well-formed variant loads")
	steps, ops, _ := journal(f.s, id, ^uint64(0))
	assert.Equal(t, []run.Step{{Version: 8, Timestamp: 9, End: 1}, {Version: 9, Timestamp: 9, At: 1, End: 2}}, steps)
	assert.Equal(t, []string{"8 0x10 x", "9 0x10 y"}, ops)
}

// checksummer reads what is written to it, as the snapshot file's writer does (CRC-32C).
type checksummer struct {
	crc *crc32.Table
	sum uint32
}

func (c *checksummer) Write(p []byte) (int, error) {
	c.sum = crc32.Update(c.sum, c.crc, p)
	return len(p), nil
}

// BenchmarkJournalSection writes the section of 64 runs with 2 000 journaled one-operation
// transactions each (a 120-byte operation) to a writer that checksums it: what a snapshot
// spends on run journals.
func BenchmarkJournalSection(b *testing.B) {
	st := newStore(1)
	ids := sectionRunIDs(64)
	ver := uint64(0)
	for i, id := range ids {
		ver++
		ch, err := st.s.Begin(id, run.Info{Name: fmt.Sprint(i)})
		st.do(b, ch, err, id, ver)
	}
	op := string(bytes.Repeat([]byte("x"), 120))
	for range 2000 {
		for _, id := range ids {
			ver++
			require.NoError(b, st.shardOf(id).Apply(st.journaled(id, ver, op)))
		}
	}
	views := st.freeze(ver)
	w := &checksummer{crc: crc32.MakeTable(crc32.Castagnoli)}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, v := range views {
			if err := v.WriteSection(w); err != nil {
				b.Fatal(err)
			}
		}
	}
}
