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
// JSON document's version, as a create carrying that version, which the JSON primitive's
// apply refused above 1; every replay of a compacted run holding a patched document failed,
// and ForkRun from it.
func TestCompactRunPatchedJSONReplays(t *testing.T) {
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
// written while CompactRun commits held a run's journal as compacted at a version past the
// snapshot's own (its frozen view read the journal as it was when written, not at its cut);
// recovery then refused the log's steps or the compaction itself. A journal now keeps what it
// was before a compaction for readers older than it.
func TestSnapshotDuringCompactRunOpens(t *testing.T) {
	ctx := context.Background()
	for attempt := range 10 { // the race needs the snapshot to be written while compactions commit; it failed within a few
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
