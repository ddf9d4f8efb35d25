package inmem_test

import (
	"testing"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// eventually waits, up to a generous deadline, for cond; the retention actor works on its own
// schedule. Not require.Eventually: that runs cond on a goroutine of its own, and the
// conditions here call require, which must run on the test's.
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

// KeepSteps compacts every run, active or ended, to its last steps; SetRetention starts a pass
// at once (passes run every minute otherwise).
func TestRetentionKeepSteps(t *testing.T) {
	db := openMem(t)
	runs := []inmem.RunID{newRun(t, db), newRun(t, db), newRun(t, db)}
	for i, run := range runs {
		for k := range 2 + 3*i { // 2, 5 and 8 steps
			require.NoError(t, db.KV().Put(ctx, run, "k", []byte{byte(k)}))
		}
	}
	require.NoError(t, db.EndRun(ctx, runs[2]))
	require.NoError(t, db.SetRetention(inmem.RetentionOptions{KeepSteps: 3}))
	first := func(run inmem.RunID) int {
		steps, err := db.RunSteps(run, 0, 1)
		require.NoError(t, err)
		return steps[0].Step
	}
	eventually(t, "the runs are compacted", func() bool { return first(runs[1]) == 2 && first(runs[2]) == 5 })
	assert.Equal(t, 0, first(runs[0]), "two steps: nothing to compact")
	v, err := db.KV().Get(runs[2], "k")
	require.NoError(t, err)
	assert.Equal(t, []byte{7}, v)
}

func TestSetRetention(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	require.NoError(t, db.EndRun(ctx, run))
	time.Sleep(time.Millisecond)
	require.NoError(t, db.SetRetention(inmem.RetentionOptions{EndedRunTTL: time.Nanosecond}))
	eventually(t, "the ended run is deleted", func() bool { return db.RunStatus(run) == inmem.RunNotFound })

	require.NoError(t, db.SetRetention(inmem.RetentionOptions{}), "none: the actor stops")
	kept := newRun(t, db)
	require.NoError(t, db.EndRun(ctx, kept))
	time.Sleep(50 * time.Millisecond)
	assert.Equal(t, inmem.RunCompleted, db.RunStatus(kept), "no retention any more")

	assert.ErrorIs(t, db.SetRetention(inmem.RetentionOptions{MaxEndedRuns: -1}), inmem.ErrInvalidArgument)
	require.NoError(t, db.SetRetention(inmem.RetentionOptions{MaxEndedRuns: 5}))
	require.NoError(t, db.Close())
	assert.ErrorIs(t, db.SetRetention(inmem.RetentionOptions{MaxEndedRuns: 5}), inmem.ErrClosed)
}
