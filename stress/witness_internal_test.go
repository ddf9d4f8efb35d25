package stress

import (
	"bytes"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/stretchr/testify/require"
)

// The crash loop's prefix check counts deletions through the witness, whether recovery
// replayed them from the log (DropRun) or loaded them from a snapshot (the section): both must
// give the same versions, and a frozen view only those at or below its version.
func TestWitnessKeepsDeletionsAcrossSnapshots(t *testing.T) {
	a, b := inmem.NewRunID(), inmem.NewRunID()
	wit := NewWitness()
	sh := wit.NewShard(0)
	mark := func(run inmem.RunID, v uint64) {
		require.NoError(t, sh.Apply([]commitlog.Entry{{Type: witnessType, Version: 1, TxID: v, Payload: run[:]}}))
	}
	mark(a, 1)
	mark(b, 2)
	sh.DropRun(extension.RunID(a), 3)
	mark(a, 5) // the id begun again
	sh.DropRun(extension.RunID(b), 7)
	require.Equal(t, map[inmem.RunID][]uint64{a: {1, 5}, b: {2}}, wit.Versions())
	require.Equal(t, map[inmem.RunID][]uint64{a: {3}, b: {7}}, wit.Deletions())

	for _, c := range []struct {
		at                  uint64
		versions, deletions map[inmem.RunID][]uint64
	}{
		{7, map[inmem.RunID][]uint64{a: {1, 5}, b: {2}}, map[inmem.RunID][]uint64{a: {3}, b: {7}}},
		{4, map[inmem.RunID][]uint64{a: {1}, b: {2}}, map[inmem.RunID][]uint64{a: {3}}},
	} {
		var buf bytes.Buffer
		require.NoError(t, sh.Freeze(c.at).(witnessView).WriteSection(&buf))
		loaded := NewWitness()
		lsh := loaded.NewShard(0)
		for buf.Len() > 0 {
			require.NoError(t, lsh.LoadSection(&buf))
		}
		require.Equal(t, c.versions, loaded.Versions(), "at %d", c.at)
		require.Equal(t, c.deletions, loaded.Deletions(), "at %d", c.at)
	}
}

// A slot takes over its predecessor's id only if its agent deletes that one: two slots share
// an id one after the other, and a run's name always maps back to its slot.
func TestSlotIDs(t *testing.T) {
	const seed, agent = 7, 1
	reused := 0
	for r := 1; r < 2000; r++ {
		id, prev := slotID(seed, agent, r), slotID(seed, agent, r-1)
		if id == prev {
			reused++
			require.True(t, deletes(runID(seed, agent, r-1)) && reuses(runID(seed, agent, r)), "slot %d", r)
		} else {
			require.Equal(t, runID(seed, agent, r), id, "slot %d", r)
		}
		a, s, ok := parseSlot(slotName(agent, r))
		require.True(t, ok && a == agent && s == r)
	}
	require.Positive(t, reused)
	_, _, ok := parseSlot("agent 1 run 2 ")
	require.False(t, ok)
}
