package inmem_test

import (
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkCompacted checks run's history after a compaction to base: every step from base on
// replays as images says, earlier ones are ErrHistoryCompacted, listings start at base.
func checkCompacted(t *testing.T, db *inmem.DB, run inmem.RunID, base int, images []string) {
	t.Helper()
	for k := range images {
		v, err := db.ReplayRunUntil(run, k)
		if k < base {
			assert.ErrorIs(t, err, inmem.ErrHistoryCompacted, "step %d", k)
			continue
		}
		require.NoError(t, err, "step %d", k)
		assert.Equal(t, images[k], viewImage(v), "step %d", k)
	}
	steps, err := db.RunSteps(run, 0, 0)
	require.NoError(t, err)
	require.Len(t, steps, len(images)-base)
	assert.Equal(t, base, steps[0].Step)
	c, err := db.ReplayCursor(run)
	require.NoError(t, err)
	defer c.Close()
	for k := base; c.Next(); k++ {
		assert.Equal(t, k, c.Step())
		assert.Equal(t, images[k], viewImage(c.View()), "cursor at step %d", k)
	}
	require.NoError(t, c.Err())
	meta, err := db.Run(run)
	require.NoError(t, err)
	assert.Equal(t, len(images)-1, meta.Steps, "compaction keeps the steps' numbers")
}

func TestCompactRun(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	require.NoError(t, db.BeginRunWith(ctx, run, inmem.RunInfo{}, initialState))
	images := writeSteps(t, db, run, 10)
	before, err := db.RunSteps(run, 0, 0)
	require.NoError(t, err)
	live := liveImage(t, db, run)

	require.NoError(t, db.CompactRun(ctx, run, 5))
	checkCompacted(t, db, run, 4, images)
	assert.Equal(t, live, liveImage(t, db, run), "the run's data does not change")
	after, err := db.RunSteps(run, 0, 0)
	require.NoError(t, err)
	assert.Equal(t, before[4].Version, after[0].Version, "the base is the last step folded in")
	assert.Equal(t, before[5:], after[1:], "the steps kept are unchanged")

	require.NoError(t, db.CompactRun(ctx, run, 3), "at or below the base: nothing to do")
	checkCompacted(t, db, run, 4, images)
	assert.ErrorIs(t, db.CompactRun(ctx, run, 12), inmem.ErrInvalidArgument)

	require.NoError(t, db.CompactRun(ctx, run, 8), "compacted again")
	checkCompacted(t, db, run, 7, images)
	images = append(images[:len(images)-1], writeSteps(t, db, run, 2)...) // the run goes on
	checkCompacted(t, db, run, 7, images)
	require.NoError(t, db.CompactRun(ctx, run, 13), "everything folded")
	checkCompacted(t, db, run, 12, images)
	require.NoError(t, db.Events().VerifyChain(run))

	assert.ErrorIs(t, db.CompactRun(ctx, inmem.NewRunID(), 2), inmem.ErrRunNotFound)
}

func TestCompactRunDurable(t *testing.T) {
	fromLogAndSnapshot(t, func(t *testing.T, snapshot bool) {
		dir := t.TempDir()
		db := openDir(t, dir)
		run := inmem.NewRunID()
		require.NoError(t, db.BeginRunWith(ctx, run, inmem.RunInfo{}, initialState))
		images := writeSteps(t, db, run, 6)
		require.NoError(t, db.CompactRun(ctx, run, 4))
		db = reopen(t, db, dir, snapshot)
		checkCompacted(t, db, run, 3, images)
	})
}

// A compacted base keeps each document's version; the JSON primitive takes a create that
// restores a document at its version (found by the stress suite: replay refused it).
func TestCompactRunKeepsDocumentVersions(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	require.NoError(t, db.JSON().Create(ctx, run, "d", []byte(`{"n":1}`)))
	require.NoError(t, db.JSON().Set(ctx, run, "d", "$.n", []byte("2")))
	require.NoError(t, db.KV().Put(ctx, run, "k", []byte("v")))
	require.NoError(t, db.CompactRun(ctx, run, 3))

	v, err := db.ReplayRunUntil(run, 2)
	require.NoError(t, err, "the base replays")
	doc, ok := v.JSON("d")
	require.True(t, ok)
	assert.JSONEq(t, `{"n":2}`, string(doc))
	_, err = db.ReplayRun(run)
	require.NoError(t, err)
	version, err := db.JSON().Version(run, "d")
	require.NoError(t, err)
	assert.EqualValues(t, 2, version)
	fork := inmem.NewRunID()
	require.NoError(t, db.ForkRun(ctx, run, 3, fork, inmem.RunInfo{}), "a compacted run forks")
	version, err = db.JSON().Version(fork, "d")
	require.NoError(t, err)
	assert.EqualValues(t, 1, version, "a fork's documents start afresh")
}
