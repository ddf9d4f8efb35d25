package inmem_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/require"
)

var ctx = context.Background()

// openMem opens an InMemory database closed at the end of the test.
func openMem(t testing.TB, mutate ...func(*inmem.Options)) *inmem.DB {
	t.Helper()
	o := inmem.DefaultOptions()
	o.Durability = inmem.InMemory
	for _, m := range mutate {
		m(o)
	}
	db, err := inmem.Open("", o)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	return db
}

// newRun begins a fresh run.
func newRun(t testing.TB, db *inmem.DB) inmem.RunID {
	t.Helper()
	id := inmem.NewRunID()
	require.NoError(t, db.BeginRun(ctx, id, inmem.RunInfo{Name: t.Name()}))
	return id
}

func get(t testing.TB, db *inmem.DB, run inmem.RunID, key string) string {
	t.Helper()
	v, err := db.KV().Get(run, key)
	require.NoError(t, err)
	return string(v)
}

// resumeOrphaned checks that the last recovery marked run Orphaned (it was Active
// when the database stopped) and resumes it, so that it takes writes again.
func resumeOrphaned(t testing.TB, db *inmem.DB, run inmem.RunID) {
	t.Helper()
	require.Equal(t, inmem.RunOrphaned, db.RunStatus(run), "recovery marks a run left active Orphaned")
	require.Contains(t, db.LastRecovery().OrphanedRuns, run)
	require.NoError(t, db.ResumeRun(ctx, run))
	require.Equal(t, inmem.RunActive, db.RunStatus(run))
}

// recoveredVersions is the number of transactions the last recovery restored: those in the
// snapshot it loaded (versions are dense: TxCount is the last one's commit version) plus those
// replayed from the log after it.
func recoveredVersions(rec *inmem.RecoveryResult) int {
	n := rec.TransactionsRecovered
	if rec.SnapshotUsed != nil {
		n += int(rec.SnapshotUsed.TxCount)
	}
	return n
}

// cutOff is every byte recovery cut off the log's end: a torn write and the zeros after it.
func cutOff(rec *inmem.RecoveryResult) int64 { return rec.TornTailBytes + rec.PreallocatedBytes }

// fromLogAndSnapshot runs test twice: for a database reopened from its log alone, then for one
// snapshotted before it was closed (see reopen).
func fromLogAndSnapshot(t *testing.T, test func(t *testing.T, snapshot bool)) {
	for _, snapshot := range []bool{false, true} {
		t.Run(fmt.Sprint("snapshot=", snapshot), func(t *testing.T) { test(t, snapshot) })
	}
}

// reopen closes db, after a snapshot if asked, and opens dir again; the new database is closed
// at the end of the test.
func reopen(t testing.TB, db *inmem.DB, dir string, snapshot bool, mutate ...func(*inmem.Options)) *inmem.DB {
	t.Helper()
	if snapshot {
		_, err := db.Snapshot()
		require.NoError(t, err)
	}
	require.NoError(t, db.Close())
	db = openDir(t, dir, mutate...)
	t.Cleanup(func() { db.Close() })
	return db
}

// withToy registers toy.
func withToy(toy *tally) func(*inmem.Options) {
	return func(o *inmem.Options) { o.Primitives = []inmem.Primitive{toy} }
}
