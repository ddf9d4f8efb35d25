package stress_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/require"
)

// Found by the stress workload (ReplayRun and ReplayRunUntil answering ErrCorruption after a
// CompactRun, invariants P1-P3 and P5/P6): CompactRun materializes the new base keeping every
// JSON document's version (extension.Materializer with restart false), as a create carrying
// that version; the JSON primitive's apply, which the replay runs, refuses a create at a
// version above 1 ("document \"d\": version 2 after 0"). So once a run holding a document that
// was ever patched is compacted — by CompactRun, or by Retention.KeepSteps — every replay of it
// from its base on fails, and so does ForkRun from it; its live state is unharmed. State cells
// keep their versions through the same path and replay fine. The stress workload steers around
// it until it is fixed (compactionBreaksPatchedJSON).
func TestEngineBugCompactRunPatchedJSON(t *testing.T) {
	t.Skip("engine bug: CompactRun of a run with a patched JSON document makes its history unreplayable (ErrCorruption)")
	ctx := context.Background()
	o := inmem.DefaultOptions()
	o.Durability = inmem.InMemory
	db, err := inmem.Open("", o)
	require.NoError(t, err)
	defer db.Close()
	run := inmem.NewRunID()
	require.NoError(t, db.BeginRun(ctx, run, inmem.RunInfo{}))
	require.NoError(t, db.JSON().Create(ctx, run, "d", []byte(`{"n":1}`)))                                            // step 1
	require.NoError(t, db.JSON().Patch(ctx, run, "d", []inmem.PatchOp{{Op: "set", Path: "$.n", Value: []byte("2")}})) // step 2: version 2
	require.NoError(t, db.KV().Put(ctx, run, "k", []byte("v")))                                                       // step 3
	require.NoError(t, db.CompactRun(ctx, run, 3))                                                                    // base: the state after step 2

	v, err := db.ReplayRun(run)
	require.NoError(t, err, "a compacted run replays from its base")
	doc, ok := v.JSON("d")
	require.True(t, ok)
	require.JSONEq(t, `{"n":2}`, string(doc))
	_, err = db.ReplayRunUntil(run, 2)
	require.NoError(t, err, "the base itself replays")
	require.NoError(t, db.ForkRun(ctx, run, 3, inmem.NewRunID(), inmem.RunInfo{}), "a compacted run can be forked")
}

// Found by the stress workload (CrashFS: Open after a simulated power loss failing with
// ErrCorruption, "step N of run X is not after the journal's last", invariant R1): a snapshot
// written while CompactRun commits may hold a run's journal as compacted at a version past the
// snapshot's own. The run primitive's section writes each run's current journal cut at the
// snapshot's version (Journal.at keeps the steps at or below it), but a compaction rebuilds the
// journal, moving its base — the state after a step that may be newer than the snapshot — so
// the cut keeps that base. Recovery then loads the newer base and replays the log from the
// snapshot's version: the steps the base already folded in, or the compaction itself ("does not
// fit its history"), are refused, and Open fails, whatever the recovery mode; the directory
// opens again only once a later snapshot covers the compaction. The stress workload steers
// around it until it is fixed (compactionRacesSnapshot).
func TestEngineBugSnapshotDuringCompactRun(t *testing.T) {
	t.Skip("engine bug: a snapshot written during CompactRun can hold a base past its version; Open then fails with ErrCorruption")
	ctx := context.Background()
	for attempt := range 50 { // the race needs the snapshot to be written while compactions commit
		dir := t.TempDir()
		o := inmem.DefaultOptions()
		o.Snapshot.OnClose = false // recovery from the racing snapshot, not from one taken at Close
		db, err := inmem.Open(dir, o)
		require.NoError(t, err)
		var runs []inmem.RunID
		for range 50 {
			run := inmem.NewRunID()
			require.NoError(t, db.BeginRun(ctx, run, inmem.RunInfo{}))
			for k := range 10 {
				require.NoError(t, db.KV().Put(ctx, run, strconv.Itoa(k), make([]byte, 1000)))
			}
			runs = append(runs, run)
		}
		done := make(chan error, 1)
		go func() {
			_, err := db.Snapshot()
			done <- err
		}()
		for _, run := range runs {
			require.NoError(t, db.CompactRun(ctx, run, 11)) // the base: the state after step 10
		}
		require.NoError(t, <-done)
		require.NoError(t, db.Close())
		db, err = inmem.Open(dir, o)
		require.NoError(t, err, "attempt %d: Open after a snapshot taken during compactions", attempt)
		require.NoError(t, db.Close())
	}
}
