package inmem

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// KeepSteps compacts every run, active or ended, to its last steps at each pass; a pass is
// asked for here rather than waited for (passes run every minute).
func TestRetentionKeepSteps(t *testing.T) {
	ctx := context.Background()
	o := DefaultOptions()
	o.Durability, o.Retention.KeepSteps = InMemory, 3
	db, err := Open("", o)
	require.NoError(t, err)
	defer db.Close()
	runs := []RunID{NewRunID(), NewRunID(), NewRunID()}
	for i, run := range runs {
		require.NoError(t, db.BeginRun(ctx, run, RunInfo{}))
		for k := range 2 + 3*i { // 2, 5 and 8 steps
			require.NoError(t, db.KV().Put(ctx, run, "k", []byte{byte(k)}))
		}
	}
	require.NoError(t, db.EndRun(ctx, runs[2]))
	db.retention.Kick()
	first := func(run RunID) int {
		steps, err := db.RunSteps(run, 0, 1)
		require.NoError(t, err)
		return steps[0].Step
	}
	for deadline := time.Now().Add(30 * time.Second); first(runs[2]) == 0; time.Sleep(5 * time.Millisecond) {
		require.False(t, time.Now().After(deadline), "the ended run was never compacted")
	}
	for deadline := time.Now().Add(30 * time.Second); first(runs[1]) == 0; time.Sleep(5 * time.Millisecond) {
		require.False(t, time.Now().After(deadline), "the active run was never compacted")
	}
	assert.Equal(t, 0, first(runs[0]), "two steps: nothing to compact")
	assert.Equal(t, 2, first(runs[1]), "the base at step 2, then steps 3–5")
	assert.Equal(t, 5, first(runs[2]), "the base at step 5, then steps 6–8")
	v, err := db.KV().Get(runs[2], "k")
	require.NoError(t, err)
	assert.Equal(t, []byte{7}, v)
}
