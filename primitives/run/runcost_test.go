package run

import (
	"bytes"
	"encoding/binary"
	"github.com/inmemdb/inmem/internal/mvcc"
	"testing"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/extension/extensiontest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stepTx is a journaled transaction of run id at version v: its step entry and one KV-like
// entry (type 0x10) whose payload is the run id and body.
func stepTx(id extension.RunID, v uint64, body string) []commitlog.Entry {
	step := make([]byte, stepSize)
	copy(step, id[:])
	binary.LittleEndian.PutUint64(step[commitlog.RunIDSize:], v*1000)
	return []commitlog.Entry{
		{Type: TypeStep, Version: 1, TxID: v, Payload: step},
		{Type: 0x10, Version: 1, TxID: v, Payload: append(id[:len(id):len(id)], body...)},
	}
}

// A run that commits no transaction has no journal, before it ends, after, and after a
// snapshot round trip; its first step makes one.
func TestJournalMadeByTheFirstStep(t *testing.T) {
	s := New(1)
	sh := s.NewShard(0).(*shard)
	idle, busy := extension.RunID{1}, extension.RunID{2}
	staged := map[extension.Key]extension.Staged{}
	at := func(id extension.RunID, v uint64) *commit {
		return &commit{RunID: id, Ver: v, TS: int64(v) * 1000, StagedAt: staged}
	}
	for i, id := range []extension.RunID{idle, busy} {
		begin, err := s.Begin(id, Info{Name: "r"})
		require.NoError(t, err)
		require.NoError(t, lifecycle(t, sh, begin, at(id, uint64(1+i))))
	}
	journalOf := func(sh *shard, id extension.RunID) *journal {
		r := sh.runs.At(id, mvcc.Latest)
		require.NotNil(t, r)
		return r.journal.Load()
	}
	assert.Nil(t, journalOf(sh, idle), "a begun run has no journal")
	require.NoError(t, sh.Apply(stepTx(busy, 3, "x")))
	require.NotNil(t, journalOf(sh, busy), "the first step makes the journal")
	end, err := s.End(idle, false, "")
	require.NoError(t, err)
	require.NoError(t, lifecycle(t, sh, end, at(idle, 4)))
	assert.Nil(t, journalOf(sh, idle), "an ended run that committed nothing has no journal")

	j, ok := s.Journal(idle, 4)
	require.True(t, ok)
	assert.Zero(t, j.Len())
	txs, ops, _ := s.Counts(idle, 4)
	assert.Zero(t, txs+ops)
	j, ok = s.Journal(busy, 4)
	require.True(t, ok)
	assert.Equal(t, 1, j.Len())
	assert.Equal(t, 1, j.Ops())
	j, ok = s.Journal(busy, 2)
	require.True(t, ok)
	assert.Zero(t, j.Len(), "the step is after version 2")

	sec, err := extensiontest.Section(sh.Freeze(4))
	require.NoError(t, err)
	loaded := New(1)
	lsh := loaded.NewShard(0).(*shard)
	require.NoError(t, extensiontest.LoadSection(sec, []*shard{lsh}))
	assert.Nil(t, journalOf(lsh, idle), "loaded without steps: no journal")
	require.NotNil(t, journalOf(lsh, busy))
	lj, ok := loaded.Journal(busy, 4)
	require.True(t, ok)
	var got []commitlog.Entry
	for e, err := range lj.Entries() {
		require.NoError(t, err)
		got = append(got, e)
	}
	require.Len(t, got, 1)
	assert.True(t, bytes.HasSuffix(got[0].Payload, []byte("x")))
	sec2, err := extensiontest.Section(lsh.Freeze(4))
	require.NoError(t, err)
	chunks := func(sec []byte) map[extension.RunID][]byte {
		cs, err := extensiontest.Chunks(sec)
		require.NoError(t, err)
		out := map[extension.RunID][]byte{}
		for _, c := range cs {
			out[c.Run] = c.Body
		}
		return out
	}
	assert.Equal(t, chunks(sec), chunks(sec2), "the chunks are the same written again")
}

// recordsAt lists the commit versions of the records a reader sees at each version 1..last
// (0: none).
func recordsAt(s *Store, id extension.RunID, last uint64) []uint64 {
	sh := s.shards[id.Shard(len(s.shards))]
	r := sh.runs.At(id, mvcc.Latest)
	out := make([]uint64, 0, last)
	for v := uint64(1); v <= last; v++ {
		if rec := r.records.At(v); rec != nil {
			out = append(out, rec.Commit)
		} else {
			out = append(out, 0)
		}
	}
	return out
}

// Trim keeps the records a reader at the horizon or later sees, and drops the older ones: an
// ended run keeps one record, not one per lifecycle change.
func TestTrimDropsOldRecords(t *testing.T) {
	s := New(1)
	sh := s.NewShard(0).(*shard)
	id := extension.RunID{7}
	staged := map[extension.Key]extension.Staged{}
	at := func(v uint64) *commit { return &commit{RunID: id, Ver: v, TS: int64(v) * 1000, StagedAt: staged} }
	begin, err := s.Begin(id, Info{Agent: "a"})
	require.NoError(t, err)
	require.NoError(t, lifecycle(t, sh, begin, at(2)))
	sh.Trim(2)
	assert.Zero(t, sh.trim.Len(), "one record: nothing to trim")
	end, err := s.End(id, false, "")
	require.NoError(t, err)
	require.NoError(t, lifecycle(t, sh, end, at(5)))
	assert.Equal(t, 1, sh.trim.Len())

	sh.Trim(3) // a reader pins version 3: it sees the begin's record
	assert.Equal(t, []uint64{0, 2, 2, 2, 5}, recordsAt(s, id, 5))
	assert.Equal(t, Active, s.Status(id, 3))
	assert.Equal(t, 1, sh.trim.Len(), "still two records")

	sh.Trim(5)
	assert.Zero(t, sh.trim.Len())
	// The begin's record is gone: an unpinned reader below 5 reads the end's, the cut version.
	assert.Equal(t, []uint64{5, 5, 5, 5, 5}, recordsAt(s, id, 5))
	assert.Equal(t, Completed, s.Status(id, 5))
	assert.Equal(t, "a", s.Records(5)[0].Info.Agent)
}

// A deleted run leaves the listing and lets go of its history once no reader can see it, and
// not before: a reader pinned below the deletion still lists it and reads its journal.
func TestDeletedRunsLeaveTheListing(t *testing.T) {
	s := New(1)
	sh := s.NewShard(0).(*shard)
	staged := map[extension.Key]extension.Staged{}
	var ids []extension.RunID
	v := uint64(0)
	for i := range 4 {
		id := extension.RunID{byte(i + 1)}
		ids = append(ids, id)
		begin, err := s.Begin(id, Info{Agent: "a"})
		require.NoError(t, err)
		v++
		require.NoError(t, lifecycle(t, sh, begin, &commit{RunID: id, Ver: v, TS: int64(v), StagedAt: staged}))
		v++
		require.NoError(t, sh.Apply(stepTx(id, v, "x")))
	}
	pinned := v
	for _, id := range ids[:3] {
		v++
		sh.DropRun(id, v)
	}
	sh.Trim(pinned) // a reader at pinned still sees every run
	assert.Len(t, s.Matching(pinned, Match{Agent: "a"}), 4)
	assert.Len(t, s.Matching(v, Match{Agent: "a"}), 1)
	j, ok := s.Journal(ids[0], pinned)
	require.True(t, ok)
	assert.Equal(t, 1, j.Len(), "the pinned reader replays the deleted run")
	assert.Equal(t, 4, sh.listing.list.Len())

	sh.Trim(v) // no reader below the deletions any more
	assert.Equal(t, 1, sh.listing.list.Len(), "the deleted runs left the listing")
	assert.Len(t, s.Matching(v, Match{Agent: "a"}), 1)
	assert.Equal(t, 1, sh.runs.Len(), "and the map of runs")
	_, ok = s.Journal(ids[0], v)
	assert.False(t, ok)
	for _, rec := range s.Matching(v, Match{}) {
		assert.Equal(t, ids[3], rec.ID)
	}
}

// A compaction keeps the history before it for readers older than it, and Trim lets it go
// once none is.
func TestCompactionKeepsTheOldHistoryUntilTrimmed(t *testing.T) {
	s := New(1)
	sh := s.NewShard(0).(*shard)
	id := extension.RunID{7}
	begin, err := s.Begin(id, Info{})
	require.NoError(t, err)
	require.NoError(t, lifecycle(t, sh, begin, &commit{RunID: id, Ver: 1, TS: 1, StagedAt: map[extension.Key]extension.Staged{}}))
	for v := uint64(2); v <= 4; v++ {
		require.NoError(t, sh.Apply(stepTx(id, v, "x")))
	}
	r := sh.runs.At(id, mvcc.Latest)
	j := r.journal.Load()
	require.True(t, j.compact(5, 2, 1, Step{}, []entry{{Type: 0x10, Version: 1, Payload: append(id[:len(id):len(id)], "base"...)}}))
	sh.trim.Add(r, &r.listed)

	before, ok := s.Journal(id, 4)
	require.True(t, ok)
	assert.Equal(t, 0, before.First(), "a reader older than the compaction sees the whole history")
	assert.Equal(t, 3, before.Len())
	now, _ := s.Journal(id, 5)
	assert.Equal(t, 2, now.First())
	assert.Equal(t, 1, now.Len())

	sh.Trim(4)
	assert.NotNil(t, j.compacted, "kept while a reader at 4 may ask")
	sh.Trim(5)
	assert.Nil(t, j.compacted, "let go once none can")
	gone, _ := s.Journal(id, 4)
	assert.Equal(t, 2, gone.First(), "an unpinned reader older than the trim reads the compacted history")
}
