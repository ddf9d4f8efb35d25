package inmem_test

import (
	"testing"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// eventually waits, up to a generous deadline, for cond; the retention actor works on its own
// schedule.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
	}
}

func TestRetentionKeepsTheNewestEndedRuns(t *testing.T) {
	db := openMem(t, func(o *inmem.Options) { o.Retention.MaxEndedRuns = 2 })
	active := newRun(t, db)
	var ended []inmem.RunID
	for range 5 {
		run := newRun(t, db)
		fillRun(t, db, run)
		require.NoError(t, db.EndRun(ctx, run))
		ended = append(ended, run)
	}
	eventually(t, "the three oldest ended runs are deleted", func() bool {
		return db.RunStatus(ended[2]) == inmem.RunNotFound
	})
	for _, run := range ended[:3] {
		assert.Equal(t, inmem.RunNotFound, db.RunStatus(run))
	}
	for _, run := range ended[3:] {
		assert.Equal(t, inmem.RunCompleted, db.RunStatus(run))
	}
	assert.Equal(t, inmem.RunActive, db.RunStatus(active))
	assert.EqualValues(t, 3, db.Metrics().RetentionDeleted)
}

func TestRetentionDeletesRunsPastTheirTime(t *testing.T) {
	dir := t.TempDir()
	db := openDir(t, dir)
	orphaned := newRun(t, db)
	require.NoError(t, db.Close())
	db = openDir(t, dir, func(o *inmem.Options) { o.Retention.EndedRunTTL = 50 * time.Millisecond })
	defer db.Close()
	require.Equal(t, inmem.RunOrphaned, db.RunStatus(orphaned))
	active, failed := newRun(t, db), newRun(t, db)
	require.NoError(t, db.AbortRun(ctx, failed, "gave up"))
	eventually(t, "the failed run is deleted", func() bool { return db.RunStatus(failed) == inmem.RunNotFound })
	time.Sleep(100 * time.Millisecond) // passes go on: they leave the others alone
	assert.Equal(t, inmem.RunActive, db.RunStatus(active))
	assert.Equal(t, inmem.RunOrphaned, db.RunStatus(orphaned), "an orphaned run is never deleted by retention")
	assert.EqualValues(t, 1, db.Metrics().RetentionDeleted)
}

func TestRetentionOptionsRefuseNegatives(t *testing.T) {
	for _, mutate := range []func(*inmem.Options){
		func(o *inmem.Options) { o.Retention.EndedRunTTL = -time.Second },
		func(o *inmem.Options) { o.Retention.MaxEndedRuns = -1 },
	} {
		o := inmem.DefaultOptions()
		o.Durability = inmem.InMemory
		mutate(o)
		_, err := inmem.Open("", o)
		assert.ErrorIs(t, err, inmem.ErrInvalidArgument)
	}
}
