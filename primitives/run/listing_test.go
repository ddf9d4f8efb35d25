package run

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/extension/extensiontest"
	"github.com/inmemdb/inmem/internal/mvcc"
	"github.com/stretchr/testify/require"
)

// listingHistory is a deterministic history of runs: run i is begun with info(i), and three
// runs later ends (Completed if i is even, Failed if odd) or, one run in seven, is orphaned.
type listingHistory struct {
	ids   []extension.RunID
	ops   []listingOp // ops[v-1] is what version v does
	begun []uint64    // the version that begins run i
	ended []uint64    // the version that ends (or orphans) run i; 0: never
}

type listingOp struct {
	run   int
	begin bool
}

func newListingHistory(n int) *listingHistory {
	h := &listingHistory{begun: make([]uint64, n), ended: make([]uint64, n)}
	for i := range n {
		h.ids = append(h.ids, extension.RunID{byte(i >> 8), byte(i), 0xCC})
	}
	for k := range n + 3 {
		if k < n {
			h.ops = append(h.ops, listingOp{run: k, begin: true})
			h.begun[k] = uint64(len(h.ops))
		}
		if e := k - 3; e >= 0 && e < n {
			h.ops = append(h.ops, listingOp{run: e})
			h.ended[e] = uint64(len(h.ops))
		}
	}
	return h
}

func (h *listingHistory) info(i int) Info {
	info := Info{Agent: fmt.Sprint("a", i%3), Tags: []string{fmt.Sprint("t", i%4)}}
	if i%2 == 1 {
		info.Tags = append(info.Tags, "odd")
	}
	if i%5 == 1 {
		info.Parent = h.ids[i-1]
	}
	return info
}

func (h *listingHistory) final(i int) Status {
	switch {
	case i%7 == 0:
		return Orphaned
	case i%2 == 0:
		return Completed
	}
	return Failed
}

// statusAt is run i's status at version s.
func (h *listingHistory) statusAt(i int, s uint64) Status {
	switch {
	case h.begun[i] > s:
		return NotFound
	case h.ended[i] > s:
		return Active
	}
	return h.final(i)
}

// want is the ids of the runs matching m at version s, sorted.
func (h *listingHistory) want(m Match, s uint64) []extension.RunID {
	var out []extension.RunID
	for i, id := range h.ids {
		st := h.statusAt(i, s)
		if st == NotFound {
			continue
		}
		rec := &Record{ID: id, Info: h.info(i), Status: st}
		if m.Matches(rec) {
			out = append(out, id)
		}
	}
	slices.SortFunc(out, func(a, b extension.RunID) int { return slices.Compare(a[:], b[:]) })
	return out
}

func matchingIDs(s *Store, m Match, snapshot uint64) []extension.RunID {
	var out []extension.RunID
	for _, r := range s.Matching(snapshot, m) {
		out = append(out, r.ID)
	}
	slices.SortFunc(out, func(a, b extension.RunID) int { return slices.Compare(a[:], b[:]) })
	return out
}

func (h *listingHistory) matches() []Match {
	return []Match{
		{}, {Agent: "a1"}, {Tag: "t2"}, {Tag: "odd"}, {Status: Active}, {Status: Completed},
		{Status: Failed, Agent: "a0"}, {Status: Orphaned}, {Parent: h.ids[0]}, {Parent: h.ids[5], Status: Failed},
		{Agent: "nobody"}, {Tag: "none"}, {Parent: extension.RunID{0xFF}}, {Tag: "odd", Status: Completed},
	}
}

// apply makes version v of the history on the store, as the sequencer and the actors would.
func (h *listingHistory) apply(t *testing.T, s *Store, staged map[extension.Key]extension.Staged, v uint64) {
	o := h.ops[v-1]
	id := h.ids[o.run]
	var ch *Change
	var err error
	switch {
	case o.begin:
		ch, err = s.Begin(id, h.info(o.run))
	case h.final(o.run) == Orphaned:
		ch = s.Orphan(id)
	default:
		ch, err = s.End(id, h.final(o.run) == Failed, "")
	}
	require.NoError(t, err)
	sh := s.shards[id.Shard(len(s.shards))]
	require.NoError(t, lifecycle(t, sh, ch, &extensiontest.Commit{RunID: id, Ver: v, TS: int64(v), StagedAt: staged}))
}

// Matching at a snapshot lists exactly the runs matching at that snapshot, while the actor
// begins, ends and orphans runs and trims their old records: pinned readers at every version
// compare with the history. Run with -race.
func TestMatchingAtSnapshotWhileApplying(t *testing.T) {
	h := newListingHistory(300)
	s := New(2)
	for i := range 2 {
		s.NewShard(i)
	}
	staged := map[extension.Key]extension.Staged{}
	var clock mvcc.Clock
	stop := make(chan struct{})
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for r := range 3 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 9))
			ms := h.matches()
			for {
				select {
				case <-stop:
					return
				default:
				}
				snap := clock.Pin()
				m := ms[rng.IntN(len(ms))]
				if got, want := matchingIDs(s, m, snap), h.want(m, snap); !slices.Equal(got, want) {
					select {
					case errs <- fmt.Errorf("%+v at %d: %d runs, want %d", m, snap, len(got), len(want)):
					default:
					}
				}
				clock.Unpin(snap)
			}
		})
	}
	for v := uint64(1); v <= uint64(len(h.ops)); v++ {
		h.apply(t, s, staged, v)
		clock.Publish(v)
		for _, sh := range s.shards {
			sh.Trim(clock.Oldest())
		}
		runtime.Gosched()
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Every reader gone: every record but the newest trimmed, and the answers the same.
	last := uint64(len(h.ops))
	for _, sh := range s.shards {
		sh.Trim(last)
		require.Zero(t, sh.trim.Len())
	}
	for _, m := range h.matches() {
		require.Equal(t, h.want(m, last), matchingIDs(s, m, last), "%+v", m)
	}
}

// Every version of the history, read after the fact by a reader that pinned it: old records
// are kept for it, and their statuses still match.
func TestMatchingAtEveryPinnedVersion(t *testing.T) {
	h := newListingHistory(40)
	s := New(3)
	for i := range 3 {
		s.NewShard(i)
	}
	staged := map[extension.Key]extension.Staged{}
	for v := uint64(1); v <= uint64(len(h.ops)); v++ {
		h.apply(t, s, staged, v)
		for _, sh := range s.shards {
			sh.Trim(1) // a reader pins version 1
		}
	}
	for v := uint64(1); v <= uint64(len(h.ops)); v++ {
		for _, m := range h.matches() {
			require.Equal(t, h.want(m, v), matchingIDs(s, m, v), "%+v at %d", m, v)
		}
	}
}

// A loaded snapshot lists its runs as the shard that wrote it did.
func TestMatchingAfterLoad(t *testing.T) {
	h := newListingHistory(50)
	s := New(2)
	for i := range 2 {
		s.NewShard(i)
	}
	staged := map[extension.Key]extension.Staged{}
	last := uint64(len(h.ops))
	for v := uint64(1); v <= last; v++ {
		h.apply(t, s, staged, v)
	}
	sec, err := extensiontest.Section(extensiontest.Freeze(s.shards, last)...)
	require.NoError(t, err)
	loaded := New(2)
	shards := []*shard{loaded.NewShard(0).(*shard), loaded.NewShard(1).(*shard)}
	require.NoError(t, extensiontest.LoadSection(sec, shards))
	for _, m := range h.matches() {
		require.Equal(t, h.want(m, last), matchingIDs(loaded, m, last), "%+v", m)
	}
}
